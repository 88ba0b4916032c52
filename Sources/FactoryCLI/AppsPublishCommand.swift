import ArgumentParser
import ComposeApps
import Factory
import FoundationEssentials
import OCI
#if canImport(Glibc)
import Glibc
#endif

/// `otter-factory apps publish DIR --registry HOST[:PORT]/REPO`.
struct AppsPublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Pack a compose project and push it as a compose app; print its URI.",
        discussion: """
        Every service's image must be pinned by digest (name@sha256:<digest>); --pin resolves \
        images given by tag through the registry and rewrites the compose file first. The bundle \
        is a reproducible gzip tar of DIR (.composeappignores patterns left out), pushed with an \
        empty config and a compose-app v1 manifest. The URI printed, \
        REGISTRY/REPO@sha256:<manifest digest>, is what a Target lists under docker_compose_apps.

        Exit status: 0 published, 1 failed (the message says why), 64 usage error.
        """)

    @Argument(help: ArgumentHelp("The compose project directory.", valueName: "dir"))
    var directory: String

    @Option(help: ArgumentHelp("Where to push: registry host[:port]/repository.", valueName: "host:port/repo"))
    var registry: String

    @Option(help: "Also tag the manifest.")
    var tag: String?

    @Flag(help: "Resolve images given by tag to digests through the registry and write them into the compose file.")
    var pin = false

    @Flag(name: .customLong("plain-http"), help: "Talk plain http to the registry (and to image registries given with --plain-http-registry).")
    var plainHTTP = false

    @Option(name: .customLong("plain-http-registry"), help: ArgumentHelp("Another registry reached over plain http (for --pin); repeatable.", valueName: "host:port"))
    var plainHTTPRegistries: [String] = []

    @Option(name: .customLong("registry-config"), help: ArgumentHelp("Registry credentials in a docker config.json.", valueName: "path"))
    var registryConfig: String?

    @Option(help: "User name for the registry (with --password).")
    var username: String?

    @Option(help: "Password for --username.")
    var password: String?

    @Option(name: .customLong("factory"), help: ArgumentHelp(
        "A factory directory whose registry token key signs the push tokens (a registry in token-auth mode, see `otter-factory registry`).",
        valueName: "dir"))
    var factoryDirectory: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func repository() throws -> Repository {
        // A reference needs a tag or digest to parse; the repository part is all we keep.
        do {
            let reference = try Reference(parsing: registry + ":latest")
            guard reference.repository.registry != Reference.defaultRegistry || registry.hasPrefix("docker.io/") else {
                throw ValidationError("--registry \(registry) names no registry host; write host[:port]/repository")
            }
            return reference.repository
        } catch let error as OCIError {
            throw ValidationError("--registry \(registry): \(error)")
        }
    }

    func validate() throws {
        _ = try repository()
        if let tag, (try? Reference(parsing: "\(registry):\(tag)")) == nil { throw ValidationError("--tag \(tag) is not a valid tag") }
    }

    func run() async throws {
        let repository = try repository()
        var access = RegistryAccess(plainHTTPRegistries: (plainHTTP ? [repository.registry] : []) + plainHTTPRegistries,
                                    dockerConfigPath: registryConfig, username: username, password: password)
        do {
            if let factoryDirectory {
                guard let issuer = try RegistryTokenIssuer.load(try FactoryDirectory(existing: factoryDirectory)) else {
                    throw FactoryError("\(factoryDirectory) has no registry token key; make it with `otter-factory registry token-auth --realm URL`")
                }
                access.tokenSigner = { service, scope in
                    try issuer.token(subject: "otter-factory apps publish", service: service ?? RegistryTokenIssuer.defaultService,
                                     access: try scope.split(separator: " ").map { try RegistryScope(parsing: String($0)) }, lifetime: 60)
                }
            }
            let client = try access.client(for: [repository.registry])
            let result = try await AppPublisher.publish(directory: directory, to: repository, tag: tag, pin: pin, registry: client)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                for service in result.pinnedServices { FileOutput.stderr("pinned the image of service \(service)") }
                print(result.uri)
            }
        } catch {
            FileOutput.stderr("otter-factory: \(error)")
            throw ExitCode.failure
        }
    }
}

enum FileOutput {
    static func stderr(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
