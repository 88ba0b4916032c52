/// What the updater asks of the container side: put an app's images into the engine, run it,
/// stop it, and say how its services are doing (the input of the boot-health check).
///
/// `install` never touches running containers, so a new version can be installed while the
/// old one keeps serving; `start` replaces the old containers with the new ones.
public protocol AppRuntime: Sendable {
    /// Loads the app's images that the engine does not have yet and writes its compose
    /// project; no container is created, stopped or removed. Idempotent.
    @discardableResult
    func install(_ app: StoredApp) async throws -> AppInstallReport
    /// Brings the installed project up (`up -d --remove-orphans`): containers of an older
    /// version are replaced, services no longer in the app are removed.
    func start(_ app: StoredApp) async throws
    /// Takes the project down (`down`): no container of the app remains.
    func stop(name: String) async throws
    func status(name: String) async throws -> AppStatus
    /// Every installed app's status, and every compose project the engine runs that is not
    /// installed (an app that was removed from the Target but still runs).
    func statusAll() async throws -> [AppStatus]
    /// Names of the apps whose project is installed, sorted.
    func installed() async throws -> [String]
}

public struct AppInstallReport: Sendable, Equatable {
    /// Image references (as the compose file writes them) loaded by this install.
    public var loaded: [String]
    /// Image references the engine already had (loaded earlier, or shared with another app).
    public var alreadyPresent: [String]

    public init(loaded: [String] = [], alreadyPresent: [String] = []) {
        self.loaded = loaded
        self.alreadyPresent = alreadyPresent
    }
}

public struct AppStatus: Sendable, Equatable, Codable {
    public var name: String
    /// The installed version (`registry/repo@sha256:…`); nil for a project the engine runs
    /// that Otter has not installed.
    public var uri: String?
    /// One entry per container, plus one with state `missing` for each service of the
    /// installed compose file that has no container.
    public var services: [ServiceStatus]

    public init(name: String, uri: String?, services: [ServiceStatus]) {
        self.name = name
        self.uri = uri
        self.services = services
    }

    /// Every service has a running container whose health check (if it has one) passed.
    /// An app with no service at all is not running.
    public var isRunningAndHealthy: Bool {
        !services.isEmpty && services.allSatisfy(\.isRunningAndHealthy)
    }
}

public struct ServiceStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case created, running, paused, restarting, removing, exited, dead
        /// The compose file has the service but the engine has no container for it.
        case missing
        case unknown
    }

    public enum Health: String, Sendable, Codable {
        /// The image and the compose file define no health check.
        case none
        case starting, healthy, unhealthy
    }

    public var service: String
    public var containerID: String?
    /// The image as the published compose file names it (`registry/repo@sha256:…`).
    public var image: String?
    public var state: State
    /// The last exit code, meaningful when `state` is `exited` (or `restarting`).
    public var exitCode: Int?
    public var health: Health

    public init(service: String, containerID: String?, image: String?, state: State, exitCode: Int?, health: Health) {
        self.service = service
        self.containerID = containerID
        self.image = image
        self.state = state
        self.exitCode = exitCode
        self.health = health
    }

    public var isRunningAndHealthy: Bool {
        state == .running && (health == .none || health == .healthy)
    }
}
