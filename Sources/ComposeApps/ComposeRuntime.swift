import FoundationEssentials

/// The runtime on a real device: images go into the engine through the Docker Engine API
/// (`DockerEngine`), projects run with the compose CLI (`docker-compose` or `docker compose`)
/// pointed at the same socket, one compose project per app, named after the app, in
/// `<composeRoot>/<name>/`.
public final class ComposeRuntime: AppRuntime {
    public struct Configuration: Sendable {
        /// The engine's API socket (`DOCKER_HOST=unix://<socketPath>` for compose).
        public var socketPath: String
        /// Where the projects live (`pacman.compose_apps_root` in aktualizr-lite terms).
        public var composeRoot: String
        /// How to run compose: `["docker-compose"]`, `["docker", "compose"]`, or a full path.
        public var composeCommand: [String]
        /// A compose run taking longer is killed and reported (containers stuck in stop, say).
        public var composeTimeout: Duration
        /// Extra environment for compose (`COMPOSE_HTTP_TIMEOUT`, …).
        public var environment: [String: String]

        public init(socketPath: String = "/var/run/docker.sock", composeRoot: String = "/var/lib/otter/compose-apps",
                    composeCommand: [String] = ["docker-compose"], composeTimeout: Duration = .seconds(600),
                    environment: [String: String] = [:]) {
            self.socketPath = socketPath
            self.composeRoot = composeRoot
            self.composeCommand = composeCommand
            self.composeTimeout = composeTimeout
            self.environment = environment
        }
    }

    public let configuration: Configuration
    public let engine: DockerEngine
    let runner: ProgramRunner

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        engine = DockerEngine(socketPath: configuration.socketPath)
        runner = ProgramRunner()
    }

    // MARK: AppRuntime

    @discardableResult
    public func install(_ app: StoredApp) async throws -> AppInstallReport {
        try Self.validate(name: app.name)
        let effective = try ComposeProject.effective(for: app)
        try await engineStep(app.name) { try await $0.ping() }
        var report = AppInstallReport()
        var seen: Set<String> = []
        for image in app.images where seen.insert(image.reference).inserted {
            guard let local = LocalImageName.forPinned(image.reference) else {
                throw AppRuntimeError(app: app.name, "image \(image.reference) is not pinned by digest",
                                      next: "publish the app with every image pinned (name@sha256:…)")
            }
            let name = "\(local.repository):\(local.tag)"
            if try await engineStep(app.name, { try await $0.image(name) }) != nil {
                report.alreadyPresent.append(image.reference)
                continue
            }
            // The same image may be in the engine under another name (another app's tag, a
            // load interrupted after the image was stored but before it was tagged).
            if try await engineStep(app.name, { try await $0.image("sha256:\(image.configDigest.hex)") }) != nil {
                try await engineStep(app.name) { try await $0.tag("sha256:\(image.configDigest.hex)", as: local.repository, tag: local.tag) }
                report.alreadyPresent.append(image.reference)
                continue
            }
            try await engineStep(app.name) { try await $0.load(image, tags: [name]) }
            guard try await engineStep(app.name, { try await $0.image(name) }) != nil else {
                throw AppRuntimeError(app: app.name, "the engine accepted image \(image.reference) but has no \(name) afterwards",
                                      next: "check the engine's log; its image store may be full or damaged")
            }
            report.loaded.append(image.reference)
        }
        try ComposeProject.write(app, effective, root: configuration.composeRoot)
        return report
    }

    public func start(_ app: StoredApp) async throws {
        try Self.validate(name: app.name)
        guard let metadata = ComposeProject.metadata(name: app.name, root: configuration.composeRoot),
              metadata.manifestDigest == app.manifestDigest.description else {
            throw AppRuntimeError(app: app.name, "version \(app.uri) is not installed in \(configuration.composeRoot)",
                                  next: "install it before starting it")
        }
        // compose v1 pulls a missing image; an install never needs the network, so neither may a start.
        for name in metadata.localImages where try await engineStep(app.name, { try await $0.image(name) }) == nil {
            throw AppRuntimeError(app: app.name, "image \(LocalImageName.pinnedReference(forLocal: name) ?? name) is not in the engine (\(name) missing)",
                                  next: "install the app again to load it")
        }
        try await compose(metadata, ["up", "-d", "--remove-orphans"])
    }

    public func stop(name: String) async throws {
        try Self.validate(name: name)
        guard let metadata = ComposeProject.metadata(name: name, root: configuration.composeRoot) else {
            let left = try await engineStep(name) { try await $0.containers(project: name) }
            guard left.isEmpty else {
                throw AppRuntimeError(app: name, "\(left.count) container(s) of project \(name) run, but the app is not installed in \(configuration.composeRoot)",
                                      next: "install the app, then stop it")
            }
            return
        }
        try await compose(metadata, ["down", "--remove-orphans"])
    }

    public func status(name: String) async throws -> AppStatus {
        let metadata = ComposeProject.metadata(name: name, root: configuration.composeRoot)
        let containers = try await engineStep(name) { try await $0.containers(project: name) }
        var services: [ServiceStatus] = []
        for summary in containers where summary.labels["com.docker.compose.oneoff"]?.lowercased() != "true" {
            let container = try await engineStep(name) { try await $0.container(summary.id) }
            services.append(Self.serviceStatus(container, summary: summary))
        }
        let present = Set(services.map(\.service))
        for service in metadata?.services ?? [] where !present.contains(service) {
            services.append(ServiceStatus(service: service, containerID: nil, image: nil, state: .missing, exitCode: nil, health: .none))
        }
        services.sort { ($0.service, $0.containerID ?? "") < ($1.service, $1.containerID ?? "") }
        return AppStatus(name: name, uri: metadata?.uri, services: services)
    }

    public func statusAll() async throws -> [AppStatus] {
        var names = Set(try await installed())
        let running = try await engineStep("(all)") { try await $0.composeContainers() }
        for container in running {
            if let project = container.labels["com.docker.compose.project"] { names.insert(project) }
        }
        var statuses: [AppStatus] = []
        for name in names.sorted() { statuses.append(try await status(name: name)) }
        return statuses
    }

    public func installed() async throws -> [String] {
        ComposeProject.installedNames(root: configuration.composeRoot)
    }

    // MARK: Steps

    private func compose(_ metadata: ComposeProject.Metadata, _ arguments: [String]) async throws {
        let directory = configuration.composeRoot + "/" + metadata.name
        let argv = configuration.composeCommand + ["-p", metadata.name, "-f", metadata.composeFile] + arguments
        let shown = (configuration.composeCommand + arguments).joined(separator: " ")
        let result: ProgramResult
        do {
            result = try await runner.run(argv, in: directory, environment: configuration.environment.merging([
                "DOCKER_HOST": "unix://\(configuration.socketPath)",
                "COMPOSE_PROJECT_NAME": metadata.name,
            ]) { $1 }, timeout: configuration.composeTimeout)
        } catch {
            throw AppRuntimeError(app: metadata.name, "\(error)", next: "install the compose CLI or set the compose command")
        }
        guard result.succeeded else {
            throw AppRuntimeError(app: metadata.name, "`\(shown)` in \(directory) \(result.summary)",
                                  next: "run `otter apps status \(metadata.name)` and check the engine's log")
        }
    }

    /// Runs an engine call, naming the app in its error.
    private func engineStep<T>(_ app: String, _ call: (DockerEngine) async throws -> T) async throws -> T {
        do {
            return try await call(engine)
        } catch let error as DockerEngineError {
            throw AppRuntimeError(app: app, error.description)
        }
    }

    static func serviceStatus(_ container: EngineContainer, summary: EngineContainerSummary) -> ServiceStatus {
        let state = ServiceStatus.State(rawValue: container.state.status.lowercased()) ?? .unknown
        let health: ServiceStatus.Health
        switch container.state.health?.status.lowercased() {
        case "healthy": health = .healthy
        case "unhealthy": health = .unhealthy
        // podman reports a Health with status "" both before the first check and for a
        // container without any: the configured test tells them apart.
        default: health = container.config.hasHealthcheck ? .starting : .none
        }
        let image = container.config.image.isEmpty ? summary.image : container.config.image
        return ServiceStatus(service: container.config.labels["com.docker.compose.service"] ?? summary.labels["com.docker.compose.service"] ?? "?",
                             containerID: container.id,
                             image: LocalImageName.pinnedReference(forLocal: image) ?? image,
                             state: container.state.restarting ? .restarting : state,
                             exitCode: container.state.exitCode,
                             health: health)
    }

    /// Compose project names: lower-case letters, digits, `-` and `_`, starting with a letter
    /// or digit (compose v2 rejects anything else); also keeps the name a single path component.
    static func validate(name: String) throws(AppRuntimeError) {
        let bytes = Array(name.utf8)
        func isWord(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) }
        guard let first = bytes.first, isWord(first), bytes.count <= 128,
              bytes.allSatisfy({ isWord($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) else {
            throw AppRuntimeError(app: name, "the name is not a valid compose project name (lower-case letters, digits, - and _)",
                                  next: "rename the app in the Target")
        }
    }
}
