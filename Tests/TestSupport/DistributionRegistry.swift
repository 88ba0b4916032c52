import Foundation

/// A real distribution registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1 with
/// filesystem storage in a temp directory, started by the test and stopped by its PID. The
/// process part only; test targets add their pushing helpers (they need OCI types, which this
/// target does not import).
open class DistributionRegistry: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let htpasswd: (user: String, password: String)?
    private var process: Process?

    public var registry: String { "127.0.0.1:\(port)" }
    public var storage: URL { directory.appendingPathComponent("storage") }
    public var pid: Int32 { process?.processIdentifier ?? 0 }
    public var logPath: URL { directory.appendingPathComponent("registry.log") }

    public init(htpasswd: (user: String, password: String)? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-registry-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = freeLoopbackPort()
        self.htpasswd = htpasswd
        if let htpasswd {
            let file = directory.appendingPathComponent("htpasswd")
            let hash = try Self.bcrypt(htpasswd.password)
            try "\(htpasswd.user):\(hash)\n".write(to: file, atomically: true, encoding: .utf8)
            try writeConfig(auth: "auth:\n  htpasswd:\n    realm: otter-test\n    path: \(file.path)\n")
        } else {
            try writeConfig(auth: "")
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Rewrites config.yml; takes effect at the next `start()`.
    public func writeConfig(auth: String) throws {
        let config = """
        version: 0.1
        log:
          level: warn
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(storage.path)
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)
        \(auth)
        """
        try config.write(to: directory.appendingPathComponent("config.yml"), atomically: true, encoding: .utf8)
    }

    /// Starts the registry in the foreground; returns once it accepts connections.
    public func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", directory.appendingPathComponent("config.yml").path]
        if !FileManager.default.fileExists(atPath: logPath.path) { _ = FileManager.default.createFile(atPath: logPath.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: logPath)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<200 {
            if acceptsConnections(port: port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FixtureError("registry did not start on \(registry); log: \((try? String(contentsOf: logPath, encoding: .utf8)) ?? "")")
    }

    /// SIGKILL, by PID.
    public func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func stop() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// Where the registry keeps a blob's bytes (distribution's filesystem driver layout).
    public func dataPath(ofSHA256 hex: String) -> URL {
        storage.appendingPathComponent("docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
    }

    /// `Authorization` for pushes when htpasswd is on.
    public var basicAuthorization: String? {
        htpasswd.map { "Basic " + Data("\($0.user):\($0.password)".utf8).base64EncodedString() }
    }

    /// A bcrypt hash for htpasswd, from python3's crypt module (glibc's libxcrypt has bcrypt).
    public static func bcrypt(_ password: String) throws -> String {
        let result = try runProcess("/usr/bin/env", ["python3", "-W", "ignore", "-c",
                                                     "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
                                                     password])
        let hash = result.out.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, hash.hasPrefix("$2") else { throw FixtureError("python3 crypt gave no bcrypt hash: \(result.err)") }
        return hash
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= raw.count {
                raw.storeBytes(of: generator.next() as UInt64, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < raw.count { raw[i] = UInt8.random(in: 0...255); i += 1 }
        }
        return bytes
    }
}

/// Whether something listens on 127.0.0.1:`port`.
public func acceptsConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
    } == 0
}

public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
