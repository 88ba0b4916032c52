import FoundationEssentials
import OtterCrypto
import TUF

/// What a Target names: one OSTree commit and a set of compose apps (DESIGN.md "Target"), in
/// the `custom` fields LmP fleets already use.
public struct TargetSpec: Sendable, Equatable {
    public struct App: Sendable, Equatable {
        public var name: String
        public var uri: String
        public init(name: String, uri: String) { self.name = name; self.uri = uri }
    }

    public var name: String
    public var version: String
    public var hardwareIds: [String]
    public var tags: [String]
    public var osCommit: String
    /// Where devices pull the commit from (`custom.uri`), when not the gateway's default.
    public var osURI: String?
    public var apps: [App]

    public init(name: String? = nil, version: String, hardwareIds: [String], tags: [String], osCommit: String,
                osURI: String? = nil, apps: [App] = []) {
        self.name = name ?? "\(hardwareIds.first ?? "device")-lmp-\(version)"
        self.version = version
        self.hardwareIds = hardwareIds
        self.tags = tags
        self.osCommit = osCommit
        self.osURI = osURI
        self.apps = apps
    }

    /// The `targets.json` entry: the commit checksum as the sha256 hash, length 0 (an OSTree
    /// target has no single file), and the LmP `custom` object.
    public var entry: JSONObject {
        var custom = JSONObject([
            "version": .string(version),
            "hardwareIds": .array(hardwareIds.map(JSON.string)),
            "tags": .array(tags.map(JSON.string)),
            "targetFormat": .string("OSTREE"),
        ])
        if let osURI { custom["uri"] = .string(osURI) }
        var apps = JSONObject()
        for app in self.apps.sorted(by: { $0.name < $1.name }) {
            apps[app.name] = .object(JSONObject(["uri": .string(app.uri)]))
        }
        custom["docker_compose_apps"] = .object(apps)
        return JSONObject([
            "hashes": .object(JSONObject(["sha256": .string(osCommit)])),
            "length": .integer(0),
            "custom": .object(custom),
        ])
    }

    init(name: String, entry: TargetFile) throws(FactoryError) {
        guard let custom = entry.custom?.objectValue, let version = custom["version"]?.stringValue else {
            throw FactoryError("target \(name) has no custom.version")
        }
        self.name = name
        self.version = version
        hardwareIds = custom["hardwareIds"]?.arrayValue?.compactMap(\.stringValue) ?? []
        tags = custom["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        osCommit = entry.hashDictionary["sha256"] ?? ""
        osURI = custom["uri"]?.stringValue
        apps = (custom["docker_compose_apps"]?.objectValue ?? JSONObject()).compactMap { member in
            member.value["uri"]?.stringValue.map { App(name: member.key, uri: $0) }
        }
    }
}

/// One TUF repository of the factory (the CI one; production ones later), stored as the files
/// devices fetch: `N.root.json`, `root.json`, `N.targets.json`, `N.snapshot.json`,
/// `timestamp.json` (consistent snapshots). Every change re-signs targets, snapshot and
/// timestamp with the online keys and writes the new files before the new timestamp, so a
/// device reading at any moment sees a complete old or complete new repository.
public final class TargetsRepository {
    public let path: String
    let repository: TUFRepository
    let expiryDays: Int64

    init(path: String, keys: [String: [TUFSigningKey]], expiryDays: Int64) throws {
        self.path = path
        self.expiryDays = expiryDays
        var signed: [String: JSONObject] = [:]
        for role in Root.roleNames {
            let file = "\(path)/\(role).json"
            guard let bytes = FileManager.default.contents(atPath: file) else {
                throw FactoryError("cannot read \(file): the repository is incomplete")
            }
            guard let body = try JSONParser().parse(Array(bytes))["signed"]?.objectValue else {
                throw FactoryError("\(file) is not TUF metadata (no \"signed\" object)")
            }
            signed[role] = body
        }
        let expires = SystemClock().now().adding(seconds: expiryDays * 86400)
        repository = TUFRepository(signed: signed, signers: keys, expires: expires)
    }

    /// Every target, by name.
    public func targets() throws -> [TargetSpec] {
        let role = try Metadata<TargetsRole>.parse(try repository.signedBytes("targets"), role: "targets")
        return try role.signed.allTargets.map { (file) throws(FactoryError) in try TargetSpec(name: file.path, entry: file) }
    }

    public var targetsVersion: Int64 { repository.version("targets") }

    /// Adds (or replaces) a Target and publishes a new version of the repository.
    public func add(_ target: TargetSpec) throws {
        guard target.osCommit.count == 64, Hex.decode(target.osCommit) != nil else {
            throw FactoryError("\(target.osCommit) is not an OSTree commit checksum (64 hex digits)")
        }
        guard !target.hardwareIds.isEmpty else { throw FactoryError("a Target needs at least one hardware id") }
        repository.setTargetEntry(target.name, target.entry)
        try publish()
    }

    /// Changes the tags of every Target with this version (optionally only for one hardware
    /// id) and publishes; returns the names changed.
    @discardableResult
    public func retag(version: String, hardwareId: String? = nil, add: [String], remove: [String]) throws -> [String] {
        var changed: [String] = []
        for var target in try targets() where target.version == version && (hardwareId.map(target.hardwareIds.contains) ?? true) {
            var tags = target.tags.filter { !remove.contains($0) }
            for tag in add where !tags.contains(tag) { tags.append(tag) }
            guard tags != target.tags else { continue }
            target.tags = tags
            repository.setTargetEntry(target.name, target.entry)
            changed.append(target.name)
        }
        let known = try targets().contains { $0.version == version }
        guard !changed.isEmpty || known else {
            throw FactoryError("no Target has version \(version); `otter-factory targets list` shows them")
        }
        if !changed.isEmpty { try publish() }
        return changed
    }

    /// The earliest expiry of the roles the factory re-signs online (targets, snapshot, timestamp).
    public var earliestOnlineExpiry: Timestamp? {
        ["targets", "snapshot", "timestamp"].compactMap(repository.expires).min { $0.secondsSinceEpoch < $1.secondsSinceEpoch }
    }

    /// Re-signs targets, snapshot and timestamp (new versions, new expiry) when one of them
    /// expires within `days`, so devices never meet expired metadata while nothing is published;
    /// true when it did.
    @discardableResult
    public func refresh(ifExpiringWithinDays days: Int64, now: Timestamp = SystemClock().now()) throws -> Bool {
        guard let earliest = earliestOnlineExpiry, earliest.secondsSinceEpoch - now.secondsSinceEpoch > days * 86400 else {
            try publish()
            return true
        }
        return false
    }

    func publish() throws {
        let expires = SystemClock().now().adding(seconds: expiryDays * 86400)
        for role in ["targets", "snapshot", "timestamp"] {
            repository.bumpVersion(role)
            repository.setExpires(role, expires)
        }
        try repository.publishTargets()
        try repository.publishSnapshot()
        try repository.publishTimestamp()
        try Self.write(repository, to: path)
    }

    /// Writes every published file, timestamp.json last (the file that makes a new version
    /// visible), each atomically.
    static func write(_ repository: TUFRepository, to path: String) throws {
        let store = try DirectoryStore.creating(path: path)
        for (name, bytes) in repository.metadata.sorted(by: { $0.key < $1.key }) where name != "timestamp.json" {
            try store.write(name, bytes)
        }
        if let timestamp = repository.metadata["timestamp.json"] { try store.write("timestamp.json", timestamp) }
    }
}
