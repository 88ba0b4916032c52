import ArgumentParser
import Firmware
import FoundationEssentials
import Factory
import Gateway
import Glibc
import OCI
import OtterCrypto

/// `otter-factory firmware publish|sign|serve`: MCU firmware as OCI artifacts (issue #12).
struct FirmwareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firmware",
        abstract: "Publish, sign and serve microcontroller firmware from an OCI registry.",
        discussion: """
        One repository per device, <prefix><device-id>, one artifact per version tagged with its \
        semantic version (1.2.3 or v1.2.3). Signatures are cosign's keyed format \
        (sha256-<hex>.sig); keys are unencrypted PEM EC P-256 keys (cosign's encrypted key files \
        are not read).
        """,
        subcommands: [FirmwarePublishCommand.self, FirmwareSignCommand.self, FirmwareServeCommand.self])
}

/// Registry options, each also read from its environment variable.
struct FirmwareRegistryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The registry: http://host:port or https://host (env REGISTRY_URL).", valueName: "url"))
    var registryURL: String?

    @Option(help: ArgumentHelp("Prefix of device repositories, e.g. firmware/ (env REPOSITORY_PREFIX).", valueName: "prefix"))
    var repositoryPrefix: String?

    @Option(help: ArgumentHelp("Registry user name (env REGISTRY_USERNAME).", valueName: "name"))
    var registryUsername: String?

    @Option(help: ArgumentHelp("Registry password or token (env REGISTRY_PASSWORD).", valueName: "secret"))
    var registryPassword: String?

    func registry() throws -> FirmwareRegistry {
        guard let url = registryURL ?? environment("REGISTRY_URL") else {
            throw ValidationError("give the registry with --registry-url or REGISTRY_URL, e.g. http://127.0.0.1:5000")
        }
        var credentials: RegistryCredentials?
        if let password = registryPassword ?? environment("REGISTRY_PASSWORD") {
            credentials = RegistryCredentials(username: registryUsername ?? environment("REGISTRY_USERNAME") ?? "token", password: password)
        }
        do {
            return try FirmwareRegistry(url: url, repositoryPrefix: repositoryPrefix ?? environment("REPOSITORY_PREFIX") ?? "",
                                        credentials: credentials)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}

struct FirmwarePublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Push a firmware binary as version VERSION of a device; print its reference by digest.",
        discussion: "Sign the printed reference with `otter-factory firmware sign` before devices can get it.")

    @Argument(help: ArgumentHelp("The firmware binary.", valueName: "file"))
    var file: String

    @Option(help: ArgumentHelp("The device id (its repository is <prefix><id>).", valueName: "id"))
    var device: String

    @Option(help: ArgumentHelp("The semantic version, the tag (1.2.3, v1.2.3, 1.3.0-rc.1).", valueName: "version"))
    var version: String

    @Option(help: ArgumentHelp("The layer's media type.", valueName: "type"))
    var mediaType: String = FirmwarePublisher.defaultLayerMediaType

    @OptionGroup var registryOptions: FirmwareRegistryOptions

    func run() async throws {
        try await reportingFactoryErrors {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw FactoryError("cannot read the firmware file \(file)")
            }
            let publisher = FirmwarePublisher(registry: try registryOptions.registry())
            let name = file.split(separator: "/").last.map(String.init)
            let reference = try await publisher.publish([UInt8](data), device: device, version: version,
                                                        layerMediaType: mediaType, fileName: name)
            print(reference)
        }
    }
}

struct FirmwareSignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a firmware artifact the way `cosign sign --key` does (tag sha256-<hex>.sig).",
        discussion: """
        REF is host[:port]/repository:tag or …@sha256:<digest>. The registry is reached over \
        plain http when --registry-url (REGISTRY_URL) is http:// for the same host.
        """)

    @Option(help: ArgumentHelp("PEM EC P-256 private key (unencrypted: PKCS#8 or EC PRIVATE KEY).", valueName: "path"))
    var key: String

    @Argument(help: ArgumentHelp("The firmware artifact.", valueName: "ref"))
    var reference: String

    @OptionGroup var registryOptions: FirmwareRegistryOptions

    func run() async throws {
        try await reportingFactoryErrors {
            let reference = try Reference(parsing: reference)
            var registry: FirmwareRegistry
            if let configured = try? registryOptions.registry() {
                registry = configured
            } else {
                registry = try FirmwareRegistry(url: "https://" + reference.repository.registry)
            }
            if registry.host != reference.repository.registry {
                registry = try FirmwareRegistry(url: "https://" + reference.repository.registry, credentials: registry.credentials)
            }
            guard let pem = FileManager.default.contents(atPath: key) else { throw FactoryError("cannot read the key file \(key)") }
            let privateKey: ECDSAP256PrivateKey
            do {
                privateKey = try ECDSAP256PrivateKey(pem: String(decoding: pem, as: UTF8.self))
            } catch {
                throw FactoryError("\(key) is not an unencrypted PEM EC P-256 private key (\(error)); cosign's encrypted key files are not supported, make one with `openssl ecparam -name prime256v1 -genkey -noout -out cosign.key`")
            }
            let digest = try await FirmwarePublisher(registry: registry).sign(reference, key: privateKey)
            print("\(reference.repository):\(CosignSignature.tag(for: digest))")
        }
    }
}

struct FirmwareServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve /health, /version and /firmware to microcontrollers over plain HTTP until SIGTERM.",
        discussion: """
        GET /version?device=ID answers three lines: the version (tag), the CRC-32 of the binary \
        (decimal, zlib's), its size in bytes. GET /firmware?device=ID sends the binary with \
        Content-Length, ETag and Range support. Only firmware signed with the cosign key is \
        served; while the registry is unreachable the cached version is served with an \
        X-Firmware-Stale header. Status: 400 bad query, 401 token missing, 404 unknown device, \
        502 newest version refused (see the log), 503 registry unreachable and nothing cached.
        """)

    @Option(help: ArgumentHelp("Address to listen on (0.0.0.0:8480 for a device network).", valueName: "host:port"))
    var address: String = "127.0.0.1:8480"

    @Option(help: ArgumentHelp("PEM public key signatures must verify with (env COSIGN_PUB_KEY_PATH).", valueName: "path"))
    var cosignPubKeyPath: String?

    @Option(help: ArgumentHelp("Seconds between tag-list polls, e.g. 60, 0.5 or 2m (env POLL_INTERVAL; default 60).", valueName: "seconds"))
    var pollInterval: String?

    @Option(help: ArgumentHelp("Cache directory (env FIRMWARE_CACHE).", valueName: "dir"))
    var cache: String?

    @Option(help: ArgumentHelp("Token devices must send (Authorization: Bearer, or &token=) (env FIRMWARE_TOKEN).", valueName: "token"))
    var token: String?

    @Flag(help: "Serve pre-release versions (1.1.0-rc.1) too.")
    var preReleases = false

    @OptionGroup var registryOptions: FirmwareRegistryOptions

    func run() async throws {
        try await reportingFactoryErrors {
            let address = try GatewayServer.Address(parsing: address)
            guard let keyPath = cosignPubKeyPath ?? environment("COSIGN_PUB_KEY_PATH") else {
                throw ValidationError("give the cosign public key with --cosign-pub-key-path or COSIGN_PUB_KEY_PATH")
            }
            guard let pem = FileManager.default.contents(atPath: keyPath) else { throw FactoryError("cannot read the cosign public key \(keyPath)") }
            let publicKey: ECDSAP256PublicKey
            do {
                publicKey = try ECDSAP256PublicKey(pem: String(decoding: pem, as: UTF8.self))
            } catch {
                throw FactoryError("\(keyPath) is not a PEM EC P-256 public key (\(error)); cosign.pub from `cosign generate-key-pair` is one")
            }
            let interval = try Self.duration(pollInterval ?? environment("POLL_INTERVAL") ?? "60")
            let service = try FirmwareService(configuration: FirmwareConfiguration(
                registry: try registryOptions.registry(), cosignPublicKey: publicKey,
                cacheDirectory: cache ?? environment("FIRMWARE_CACHE") ?? "firmware-cache",
                pollInterval: interval, includePreReleases: preReleases))
            let server = FirmwareServer(service: service, host: address.host, port: address.port,
                                        token: token ?? environment("FIRMWARE_TOKEN"))
            try await server.run { port in
                writeNote("otter-factory: serving firmware on http://\(address.host):\(port)")
            }
        }
    }

    /// `60`, `0.5`, `500ms`, `30s`, `2m`.
    static func duration(_ text: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value > 0 { return .milliseconds(Int64(value * scale * 1000)) }
        }
        guard let seconds = Double(text), seconds > 0 else {
            throw ValidationError("poll interval \"\(text)\" is not a positive number of seconds (or 500ms, 30s, 2m)")
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}
