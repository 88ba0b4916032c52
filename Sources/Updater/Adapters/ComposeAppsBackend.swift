import ComposeApps
import FoundationEssentials
import OCI

/// `AppsBackend` over the app store (fetch, references, prune) and the engine runtime (load,
/// up, down, status).
public struct ComposeAppsBackend: AppsBackend {
    public let store: AppStore
    public let runtime: any AppRuntime
    public let registry: RegistryAccess

    public init(store: AppStore, runtime: any AppRuntime, registry: RegistryAccess) {
        self.store = store
        self.runtime = runtime
        self.registry = registry
    }

    public func fetch(_ apps: [AppRef]) async throws {
        guard !apps.isEmpty else { return }
        // The apps of the Target being installed are referenced from the start, so a prune
        // while the update runs never removes what it fetched.
        try store.setReferences(apps.map(Self.reference), role: AppStore.pendingRole)
        let hosts = apps.compactMap { $0.uri.split(separator: "/").first.map(String.init) }
        let client = try registry.client(for: hosts)
        _ = try await store.fetch(apps: apps.map { (name: $0.name, uri: $0.uri) }, from: client, progress: nil)
    }

    public func install(_ apps: [AppRef]) async throws {
        for app in apps { try await runtime.install(try store.storedApp(name: app.name, uri: app.uri)) }
    }

    /// Installs first (a no-op when the version's images and project are in place): restoring
    /// the previous apps after a rollback finds the failed version's project installed.
    public func start(_ apps: [AppRef]) async throws {
        for app in apps {
            let stored = try store.storedApp(name: app.name, uri: app.uri)
            try await runtime.install(stored)
            try await runtime.start(stored)
        }
    }

    public func stop(_ apps: [AppRef]) async throws {
        let installed = Set(try await runtime.installed())
        for app in apps where installed.contains(app.name) { try await runtime.stop(name: app.name) }
    }

    public func running() async throws -> [AppRef] {
        try await runtime.statusAll().compactMap { status in
            guard let uri = status.uri, status.services.contains(where: { $0.state == .running }) else { return nil }
            return AppRef(name: status.name, uri: uri)
        }.sorted()
    }

    public func prune(keeping: [AppRef]) async throws {
        try store.setReferences(keeping.map(Self.reference), role: AppStore.currentRole)
        try store.setReferences([], role: AppStore.pendingRole)
        _ = try store.prune()
    }

    /// Service states of the given apps, as the health check reads them.
    public func serviceStates(of apps: [String]) async throws -> [AppServiceState] {
        let wanted = Set(apps)
        return try await runtime.statusAll().filter { wanted.contains($0.name) }.flatMap { app in
            app.services.map { service in
                AppServiceState(app: app.name, service: service.service, state: service.state.rawValue,
                                health: service.health == .none ? nil : service.health.rawValue)
            }
        }
    }

    static func reference(_ app: AppRef) -> AppReference { AppReference(name: app.name, uri: app.uri) }
}
