import Foundation
import OtterCrypto
import TestSupport

/// A factory made by `otter-factory init`, its gateway running as `otter-factory serve` on two
/// free loopback ports, and helpers to make device certificates and talk to it with curl.
final class GatewayFixture: @unchecked Sendable {
    let dir: String
    let factory: String
    var port = 0
    var registrationPort = 0
    var server: Process?
    /// `--database` of the server and CLI: nil for the factory's SQLite file, or a PostgreSQL URL.
    let database: String?
    static let factoryName = "acme"

    static func binary(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }

    init(database: String? = nil) throws {
        self.database = database
        dir = NSTemporaryDirectory() + "otter-gateway-\(UUID().uuidString)"
        factory = dir + "/factory"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let made = try runProcess(Self.binary("otter-factory"), ["init", factory, "--name", Self.factoryName])
        guard made.status == 0 else { throw FixtureError("otter-factory init: \(made.err)") }
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    var url: String { "https://127.0.0.1:\(port)" }
    var registrationURL: String { "https://127.0.0.1:\(registrationPort)" }
    var rootCA: String { factory + "/pki/root.crt" }
    var deviceCA: String { factory + "/pki/device-ca.crt" }

    /// Starts `otter-factory serve` (same ports as before when restarting) and waits until both
    /// listeners accept connections.
    func start() throws {
        if port == 0 { port = freeLoopbackPort() }
        if registrationPort == 0 { registrationPort = freeLoopbackPort() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary("otter-factory"))
        process.arguments = ["serve", "--factory", factory, "--listen", "127.0.0.1:\(port)",
                             "--register-listen", "127.0.0.1:\(registrationPort)"] + (database.map { ["--database", $0] } ?? [])
        FileManager.default.createFile(atPath: dir + "/serve.log", contents: nil)
        let log = FileHandle(forWritingAtPath: dir + "/serve.log")!
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        server = process
        for _ in 0..<200 {
            if Self.accepts(port) && Self.accepts(registrationPort) { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        throw FixtureError("otter-factory serve did not start: \((try? String(contentsOfFile: dir + "/serve.log", encoding: .utf8)) ?? "")")
    }

    func stop() {
        guard let server, server.isRunning else { return }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    // MARK: Device certificates

    struct DeviceFiles {
        var uuid: String
        var certificate: String
        var key: String
    }

    /// A device certificate from a CA (the factory's device CA by default), written as PEM files.
    func device(_ uuid: String = UUID().uuidString.lowercased(), production: Bool = false, validityDays: Int = 30,
                ca: CertificateAuthority? = nil, key: ECDSAP256PrivateKey? = nil) throws -> DeviceFiles {
        let authority = try ca ?? deviceAuthority()
        let key = try key ?? ECDSAP256PrivateKey()
        let subject = DistinguishedName(commonName: uuid, organizationalUnit: Self.factoryName,
                                        businessCategory: production ? "production" : nil)
        let certificate = try authority.issueClient(for: CertificateSigningRequest(subject: subject, key: key), validityDays: validityDays)
        let base = dir + "/device-\(uuid)-\(UUID().uuidString.prefix(8))"
        try certificate.pem.write(toFile: base + ".crt", atomically: true, encoding: .utf8)
        try key.pem.write(toFile: base + ".key", atomically: true, encoding: .utf8)
        return DeviceFiles(uuid: uuid, certificate: base + ".crt", key: base + ".key")
    }

    func deviceAuthority() throws -> CertificateAuthority {
        try CertificateAuthority(certificate: Certificate(pem: String(contentsOfFile: deviceCA, encoding: .utf8)),
                                 key: ECDSAP256PrivateKey(pem: String(contentsOfFile: factory + "/pki/device-ca.key", encoding: .utf8)))
    }

    // MARK: curl

    struct CurlResult {
        var status: Int?
        var body: String
        var headers: [String: String]
        var exitCode: Int32
        var error: String
    }

    /// One request with curl (an independent TLS client); `status` is nil when no HTTP answer came.
    func curl(_ path: String, as device: DeviceFiles?, method: String = "GET", body: String? = nil, bodyFile: String? = nil,
              headers: [String: String] = [:], base: String? = nil, extra: [String] = []) throws -> CurlResult {
        let headerFile = dir + "/headers-\(UUID().uuidString)"
        var args = ["-sS", "--path-as-is", "--cacert", rootCA, "-X", method, "-D", headerFile, "-o", "-", "-w", "\n%{http_code}"]
        if let device { args += ["--cert", device.certificate, "--key", device.key] }
        for (name, value) in headers { args += ["-H", "\(name): \(value)"] }
        if let body { args += ["--data-binary", body] }
        if let bodyFile { args += ["--data-binary", "@" + bodyFile] }
        args += extra
        args.append((base ?? url) + path)
        let result = try runProcess("/usr/bin/curl", args)
        var output = result.out
        var status: Int?
        if let newline = output.lastIndex(of: "\n") {
            status = Int(output[output.index(after: newline)...]).flatMap { $0 == 0 ? nil : $0 }
            output = String(output[..<newline])
        }
        var fields: [String: String] = [:]
        if let text = try? String(contentsOfFile: headerFile, encoding: .utf8) {
            for line in text.split(separator: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return CurlResult(status: status, body: output, headers: fields, exitCode: result.status, error: result.err)
    }

    /// `otter-factory` with `--factory` appended; returns stdout (stderr on failure).
    @discardableResult
    func factoryCLI(_ args: [String]) throws -> String {
        let result = try runProcess(Self.binary("otter-factory"), args + ["--factory", factory] + (database.map { ["--database", $0] } ?? []))
        guard result.status == 0 else { throw FixtureError("otter-factory \(args.joined(separator: " ")): \(result.err)") }
        return result.out
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
