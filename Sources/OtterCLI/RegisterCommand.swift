import ConfigSyntax
import ArgumentParser
import FoundationEssentials
import Glibc
import HTTP
import OtterCrypto
import Updater

/// `otter register`: a key made on the device, a CSR, a certificate from the factory.
struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register this device with a factory: make its key, get its certificate, write its config.",
        discussion: """
        Generates an ECDSA P-256 key and a CSR (CN=<new uuid>, OU=<factory name>, \
        businessCategory=production with --production), sends it with the token to the factory's \
        registration endpoint (POST <factory>/devices) and writes into --certs-dir: pkey.pem (0600), \
        client.pem (the device certificate) and root.crt (the factory root CA); and into --conf-dir \
        50-registration.toml (device name, tag, hardware id, gateway URLs, certificate paths).

        Server trust: with --ca the registration server must present a certificate from that CA. \
        Without it the first contact is trusted (TOFU): the factory root CA's fingerprint is printed, \
        compare it with what `otter-factory serve` prints, or pin it with --ca-fingerprint. Either way \
        the issued certificate must chain to the returned root CA and carry this device's key.

        An existing registration (client.pem) is never overwritten without --force.

        With --renew, a registered device asks its gateway (over mTLS, with its current \
        certificate) for a new certificate for the same key and subject, and replaces client.pem \
        atomically; the daemon does this by itself within [servers] cert_renew_days of expiry.
        """)

    @Option(help: ArgumentHelp("The factory's registration URL.", valueName: "url"))
    var factory: String?

    @Flag(help: "Renew the certificate of this registered device through its gateway (no other option needed).")
    var renew = false

    @Option(help: ArgumentHelp("The device gateway URL (default: what the factory advertises).", valueName: "url"))
    var gateway: String?

    @Option(help: "The device name shown in the fleet view.")
    var name: String?

    @Option(help: "The tag whose Targets the device follows.")
    var tag: String?

    @Option(help: "The hardware id (Targets are matched on it).")
    var hwid: String?

    @Option(help: "Device group.")
    var group: String?

    @Flag(help: "Register as a production device (needs a token that allows it).")
    var production = false

    @Option(help: "Registration token from `otter-factory tokens create`.")
    var token: String?

    @Option(help: ArgumentHelp("The factory name for the CSR's OU (default: asked from the factory).", valueName: "name"))
    var ou: String?

    @Option(help: ArgumentHelp("PEM CA that signed the registration server's certificate.", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("Expected SHA-256 fingerprint (hex) of the factory root CA.", valueName: "hex"))
    var caFingerprint: String?

    @Option(help: ArgumentHelp("Where the key and certificates go (default <sysroot>/var/lib/otter/certs).", valueName: "dir"))
    var certsDir: String?

    @Option(help: ArgumentHelp("Where the config fragment goes (default <sysroot>/etc/otter/conf.d).", valueName: "dir"))
    var confDir: String?

    @Flag(help: "Replace an existing registration.")
    var force = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if renew { return }
        guard let factory else { throw ValidationError("--factory is required (or --renew)") }
        guard token != nil else { throw ValidationError("--token is required (or --renew)") }
        for (option, url) in [("--factory", factory), ("--gateway", gateway ?? "https://")] where !url.hasPrefix("https://") {
            throw ValidationError("\(option) must be an https:// URL, got \(url)")
        }
        guard let name, !name.isEmpty else { throw ValidationError("--name must not be empty") }
    }

    func run() async throws {
        let paths = RegistrationPaths(global: global, certsDir: certsDir, confDir: confDir)
        do {
            if renew { return try await renewCertificate() }
            try await register(paths)
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("otter register: \(error)")
            throw ExitCode.failure
        }
    }

    func renewCertificate() async throws {
        let configuration = try OtterConfiguration.load(root: global.sysroot)
        guard let renewer = CertificateRenewer(configuration: configuration) else {
            throw RegistrationError("this device is not registered with a gateway (no [servers] gateway_url, tls_client_cert, tls_client_key and tls_ca); run `otter register`")
        }
        let issued = try await renewer.renew()
        let expires = Date(timeIntervalSince1970: Double(issued.notAfter)).formatted(.iso8601)
        if global.json { return try printJSON(["certificate": renewer.certificatePath, "expires": expires]) }
        print("renewed \(renewer.certificatePath); it expires \(expires)")
    }

    func register(_ paths: RegistrationPaths) async throws {
        guard let factory, let token, let name else { throw RegistrationError("--factory, --name and --token are required") }
        if FileManager.default.fileExists(atPath: paths.certificate) && !force {
            throw RegistrationError("this device is already registered (\(paths.certificate) exists); run `otter whoami`, or register again with --force")
        }
        let base = factory.hasSuffix("/") ? String(factory.dropLast()) : factory
        let client = HTTPClient(configuration: HTTPClient.Configuration(
            tls: HTTPClient.TLS(caBundlePath: ca, verifyPeer: ca != nil),
            timeouts: HTTPClient.Timeouts(connect: .seconds(15), overall: .seconds(60)), retry: .init(maxAttempts: 2)))
        if ca == nil {
            printError("otter register: no --ca given: trusting the registration server on first use")
        }

        struct FactoryInfo: Decodable { var name: String; var gateway: String? }
        var factoryName = ou
        var gatewayURL = gateway
        if factoryName == nil || gatewayURL == nil {
            let response = try await client.get(base + "/factory").requireSuccess()
            let info = try JSONDecoder().decode(FactoryInfo.self, from: Data(response.body))
            factoryName = factoryName ?? info.name
            gatewayURL = gatewayURL ?? info.gateway
        }
        guard let factoryName, let gatewayURL else {
            throw RegistrationError("the factory did not say its gateway URL; give --gateway")
        }

        let uuid = UUID().uuidString.lowercased()
        let key = try ECDSAP256PrivateKey()
        let request = try CertificateSigningRequest(
            subject: DistinguishedName(commonName: uuid, organizationalUnit: factoryName,
                                       businessCategory: production ? "production" : nil), key: key)
        var body: [String: RegistrationValue] = ["name": .string(name), "uuid": .string(uuid), "csr": .string(try request.pem),
                                                 "production": .bool(production)]
        if let hwid { body["hardware-id"] = .string(hwid) }
        if let tag { body["tag"] = .string(tag) }
        if let group { body["group"] = .string(group) }
        let response = try await client.send(HTTPRequest(
            method: .post, url: base + "/devices",
            headers: ["OSF-TOKEN": token, "Content-Type": "application/json"],
            body: .bytes(Array(try JSONEncoder().encode(body)))))
        guard response.status == 201 else {
            throw RegistrationError("the factory refused the registration (HTTP \(response.status)): \(String(decoding: response.body.prefix(500), as: UTF8.self))")
        }
        let files = try JSONDecoder().decode([String: String].self, from: Data(response.body))
        guard let clientPEM = files["client.pem"], let rootPEM = files["root.crt"] else {
            throw RegistrationError("the factory's answer has no client.pem or root.crt; nothing was written")
        }

        // The answer must be a certificate for this key, chaining to the root it came with.
        let root = try Certificate(pem: rootPEM)
        if let caFingerprint, caFingerprint.lowercased().filter({ $0 != ":" }) != root.sha256Fingerprint {
            throw RegistrationError("the factory root CA's fingerprint is \(root.sha256Fingerprint), not the expected \(caFingerprint); nothing was written")
        }
        let certificate = try Certificate(pem: clientPEM)
        let intermediates = try files["client.chained"].map { try Certificate.all(pem: $0) } ?? []
        try certificate.verify(anchors: [root], intermediates: intermediates)
        guard try certificate.publicKeyPEM == key.publicKey.pem, certificate.subject.commonName == uuid else {
            throw RegistrationError("the issued certificate is not for this device's key and uuid; nothing was written")
        }
        if ca == nil {
            printError("otter register: factory root CA sha256 fingerprint \(root.sha256Fingerprint)")
        }

        try FileManager.default.createDirectory(atPath: paths.certsDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: paths.confDirectory, withIntermediateDirectories: true)
        try writeAtomically(try key.pem, to: paths.key, mode: 0o600)
        try writeAtomically(files["client.chained"] ?? clientPEM, to: paths.certificate, mode: 0o644)
        try writeAtomically(rootPEM, to: paths.rootCA, mode: 0o644)
        try writeAtomically(fragment(gateway: gatewayURL, paths: paths), to: paths.fragment, mode: 0o644)

        if global.json {
            try printJSON(["uuid": uuid, "certificate": paths.certificate, "config": paths.fragment])
        } else {
            print(uuid)
            printError("otter register: registered \(name) as \(uuid); certificate \(paths.certificate), config \(paths.fragment)")
        }
    }

    func fragment(gateway: String, paths: RegistrationPaths) -> String {
        let name = self.name ?? ""
        let gateway = gateway.hasSuffix("/") ? String(gateway.dropLast()) : gateway
        var lines = ["# Written by `otter register`; remove it (and the certs) to unregister.", "[device]",
                     "name = \(tomlBasicString(name))"]
        if let tag { lines.append("tag = \(tomlBasicString(tag))") }
        if let hwid { lines.append("hardware_id = \(tomlBasicString(hwid))") }
        lines += ["", "[servers]",
                  "gateway_url = \(tomlBasicString(gateway))",
                  "tuf_url = \(tomlBasicString(gateway + "/repo"))",
                  "ostree_url = \(tomlBasicString(gateway + "/ostree"))",
                  "tls_client_cert = \(tomlBasicString(paths.inSysroot(paths.certificate)))",
                  "tls_client_key = \(tomlBasicString(paths.inSysroot(paths.key)))",
                  "tls_ca = \(tomlBasicString(paths.inSysroot(paths.rootCA)))"]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `otter whoami`: the device's identity from its certificate and registration config.
struct WhoamiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Print this device's uuid, name, tag, hardware id, production flag, certificate expiry and gateway.",
        discussion: "Reads the certificate and 50-registration.toml that `otter register` wrote; asks the gateway's GET /device when it is reachable.")

    @Option(help: ArgumentHelp("Where the key and certificates are (default <sysroot>/var/lib/otter/certs).", valueName: "dir"))
    var certsDir: String?

    @Option(help: ArgumentHelp("Where the config fragment is (default <sysroot>/etc/otter/conf.d).", valueName: "dir"))
    var confDir: String?

    @Flag(help: "Do not contact the gateway.")
    var offline = false

    @OptionGroup var global: GlobalOptions

    struct Identity: Encodable {
        var uuid: String
        var name: String?
        var tag: String?
        var hardwareID: String?
        var production: Bool
        var certificateExpires: String
        var gateway: String?
        var gatewayReachable: Bool?
        var lastSeen: Double?
        var target: String?
    }

    func run() async throws {
        let paths = RegistrationPaths(global: global, certsDir: certsDir, confDir: confDir)
        do {
            guard let pem = FileManager.default.contents(atPath: paths.certificate) else {
                throw RegistrationError("this device is not registered (no \(paths.certificate)); run `otter register`")
            }
            let certificate = try Certificate(pem: String(decoding: pem, as: UTF8.self))
            let config = FileManager.default.contents(atPath: paths.fragment).map { parseSimpleTOML(String(decoding: $0, as: UTF8.self)) } ?? [:]
            var gateway = config["servers.tuf_url"]
            if let url = gateway, url.hasSuffix("/repo") { gateway = String(url.dropLast(5)) }
            var identity = Identity(
                uuid: certificate.subject.commonName ?? "", name: config["device.name"], tag: config["device.tag"],
                hardwareID: config["device.hardware_id"], production: certificate.subject["businessCategory"] == "production",
                certificateExpires: Date(timeIntervalSince1970: Double(certificate.notAfter)).formatted(.iso8601), gateway: gateway)
            if !offline, let gateway {
                let client = HTTPClient(configuration: HTTPClient.Configuration(
                    tls: HTTPClient.TLS(caBundlePath: paths.rootCA, clientCertificatePath: paths.certificate, clientKeyPath: paths.key),
                    timeouts: HTTPClient.Timeouts(connect: .seconds(5), overall: .seconds(10)), retry: .none))
                struct Device: Decodable { var last_seen: Double?; var target_name: String?; var name: String? }
                if let response = try? await client.get(gateway + "/device"), response.isSuccess,
                   let device = try? JSONDecoder().decode(Device.self, from: Data(response.body)) {
                    identity.gatewayReachable = true
                    identity.lastSeen = device.last_seen
                    identity.target = device.target_name.flatMap { $0.isEmpty ? nil : $0 }
                    identity.name = identity.name ?? device.name
                } else {
                    identity.gatewayReachable = false
                }
            }
            if global.json { return try printJSON(identity) }
            print("uuid:        \(identity.uuid)")
            print("name:        \(identity.name ?? "unknown")")
            print("tag:         \(identity.tag ?? "none")")
            print("hardware id: \(identity.hardwareID ?? "unknown")")
            print("production:  \(identity.production ? "yes" : "no")")
            print("cert expiry: \(identity.certificateExpires)")
            let reach = identity.gatewayReachable.map { $0 ? " (reachable)" : " (not reachable)" } ?? ""
            print("gateway:     \(identity.gateway ?? "unknown")\(reach)")
            if let target = identity.target { print("target:      \(target)") }
        } catch {
            printError("otter whoami: \(error)")
            throw ExitCode.failure
        }
    }
}

struct RegistrationPaths {
    let sysroot: String
    let certsDirectory: String
    let confDirectory: String

    init(global: GlobalOptions, certsDir: String?, confDir: String?) {
        sysroot = global.sysroot
        certsDirectory = certsDir ?? global.path("/var/lib/otter/certs")
        confDirectory = confDir ?? global.path("/etc/otter/conf.d")
    }

    var key: String { certsDirectory + "/pkey.pem" }
    var certificate: String { certsDirectory + "/client.pem" }
    var rootCA: String { certsDirectory + "/root.crt" }
    var fragment: String { confDirectory + "/50-registration.toml" }

    /// The path as the device sees it (config paths are resolved under the sysroot again).
    func inSysroot(_ path: String) -> String {
        let root = sysroot.hasSuffix("/") ? String(sysroot.dropLast()) : sysroot
        guard !root.isEmpty, path.hasPrefix(root + "/") else { return path }
        return String(path.dropFirst(root.count))
    }
}

struct RegistrationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum RegistrationValue: Encodable {
    case string(String)
    case bool(Bool)
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .bool(let b): try container.encode(b)
        }
    }
}

/// Writes `text` atomically (see `writeFileAtomically`).
func writeAtomically(_ text: String, to path: String, mode: mode_t) throws {
    try writeFileAtomically(text, to: path, mode: mode)
}


/// `section.key` → string value, for the flat `key = "value"` fragments `otter register` writes.
func parseSimpleTOML(_ text: String) -> [String: String] {
    var section = ""
    var result: [String: String] = [:]
    for raw in text.split(whereSeparator: \.isNewline) {
        let line = raw.drop { $0 == " " }
        if line.hasPrefix("#") || line.isEmpty { continue }
        if line.hasPrefix("["), let end = line.firstIndex(of: "]") {
            section = String(line[line.index(after: line.startIndex)..<end])
            continue
        }
        guard let eq = line.firstIndex(of: "=") else { continue }
        let key = line[..<eq].filter { $0 != " " }
        var value = line[line.index(after: eq)...].drop { $0 == " " }
        guard value.hasPrefix("\""), let close = value.dropFirst().lastIndex(of: "\"") else { continue }
        value = value[value.index(after: value.startIndex)..<close]
        var unescaped = ""
        var escaping = false
        for character in value {
            if escaping { unescaped.append(character == "n" ? "\n" : character); escaping = false }
            else if character == "\\" { escaping = true }
            else { unescaped.append(character) }
        }
        result[section.isEmpty ? key : section + "." + key] = unescaped
    }
    return result
}
