import FoundationEssentials
import OCI

/// An app as a Target names it.
public struct AppReference: Codable, Sendable, Hashable {
    public var name: String
    public var uri: String

    public init(name: String, uri: String) {
        self.name = name
        self.uri = uri
    }
}

/// `state.json`: which apps each role references (`current`, `pending`, …) and which apps were
/// fetched (under which name). Small, rewritten whole and atomically.
struct AppStoreState: Codable, Equatable {
    var version = 1
    var references: [String: [AppReference]] = [:]
    var fetched: [AppReference] = []
}

extension AppStore {
    /// The roles a device uses: the running Target's apps and the one being installed.
    public static let currentRole = "current"
    public static let pendingRole = "pending"

    func readState() throws -> AppStoreState {
        guard AppFiles.isRegularFile(statePath) else { return AppStoreState() }
        let bytes = try AppFiles.read(statePath, limit: 4 << 20)
        do {
            return try JSONDecoder().decode(AppStoreState.self, from: Data(bytes))
        } catch {
            throw AppStoreError.invalidState(statePath, reason: "not the expected JSON (\(error))")
        }
    }

    func writeState(_ state: AppStoreState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AppFiles.writeAtomically(statePath, Array(try encoder.encode(state)))
    }

    /// Role → referenced apps.
    public func references() throws -> [String: [AppReference]] { try readState().references }

    /// Makes `apps` the apps of `role` (an empty list drops the role). With `merging`, apps of
    /// other names the role had stay referenced.
    public func setReferences(_ apps: [AppReference], role: String, merging: Bool = false) throws {
        let lock = try lock()
        defer { lock.release() }
        var state = try readState()
        var list = merging ? (state.references[role] ?? []).filter { old in !apps.contains { $0.name == old.name } } : []
        list += apps
        state.references[role] = list.isEmpty ? nil : list.sorted { ($0.name, $0.uri) < ($1.name, $1.uri) }
        try writeState(state)
    }

    func recordFetched(_ apps: [AppReference]) throws {
        var state = try readState()
        for app in apps where !state.fetched.contains(app) { state.fetched.append(app) }
        state.fetched.sort { ($0.name, $0.uri) < ($1.name, $1.uri) }
        try writeState(state)
    }

    /// A fetched app, with the roles referencing it and the bytes of the blobs it reaches.
    public struct FetchedApp: Sendable, Equatable, Encodable {
        public var name: String
        public var uri: String
        public var sizeBytes: Int64
        public var roles: [String]
        /// False when a piece has gone missing since (`storedApp` would fail).
        public var complete: Bool
    }

    /// The apps fetched into the store (and not pruned since).
    public func fetchedApps() throws -> [FetchedApp] {
        let state = try readState()
        return state.fetched.map { app in
            let size = reachableDigests(uri: app.uri).reduce(Int64(0)) { $0 + (AppFiles.size(of: blobs.path(of: $1)) ?? 0) }
            let roles = state.references.filter { $0.value.contains(app) }.map(\.key).sorted()
            let complete = (try? storedApp(name: app.name, uri: app.uri)) != nil
            return FetchedApp(name: app.name, uri: app.uri, sizeBytes: size, roles: roles, complete: complete)
        }
    }
}
