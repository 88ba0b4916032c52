import Factory
import FoundationEssentials
import GRDB
import OtterCrypto

/// The factory's SQLite database (`<factory>/factory.db`, WAL): devices, what they report,
/// registration tokens and factory settings. The gateway keeps no other state, and the
/// `otter-factory devices`/`status` commands read the same file.
///
/// Every device row and report is keyed by the device UUID (the CN of its client certificate).
public final class FactoryDatabase: Sendable {
    let pool: DatabasePool
    public let path: String

    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw FactoryError("cannot open the factory database \(path): \(error)")
        }
    }

    public convenience init(factory: FactoryDirectory) throws {
        try self.init(path: factory.path + "/factory.db")
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
            CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE devices(
              uuid TEXT PRIMARY KEY, name TEXT NOT NULL, pubkey TEXT NOT NULL, is_prod INTEGER NOT NULL,
              hardware_id TEXT, group_name TEXT, created_at REAL NOT NULL, last_seen REAL,
              tags TEXT, target_name TEXT, ostree_hash TEXT, docker_apps TEXT);
            CREATE TABLE events(
              device_uuid TEXT NOT NULL REFERENCES devices(uuid) ON DELETE CASCADE, id TEXT NOT NULL,
              device_time TEXT NOT NULL, received_at REAL NOT NULL, event_type TEXT NOT NULL,
              event_version INTEGER NOT NULL, correlation_id TEXT NOT NULL, target_name TEXT, version TEXT,
              success INTEGER, ecu TEXT, details TEXT, PRIMARY KEY(device_uuid, id));
            CREATE INDEX events_by_time ON events(device_uuid, received_at);
            CREATE TABLE apps_states(
              device_uuid TEXT PRIMARY KEY REFERENCES devices(uuid) ON DELETE CASCADE, device_time TEXT NOT NULL,
              ostree TEXT, apps TEXT NOT NULL, received_at REAL NOT NULL);
            CREATE TABLE system_info(
              device_uuid TEXT NOT NULL REFERENCES devices(uuid) ON DELETE CASCADE, kind TEXT NOT NULL,
              content_type TEXT, body BLOB NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY(device_uuid, kind));
            CREATE TABLE device_config(
              device_uuid TEXT PRIMARY KEY REFERENCES devices(uuid) ON DELETE CASCADE, body TEXT NOT NULL,
              updated_at REAL NOT NULL);
            CREATE TABLE tokens(
              hash TEXT PRIMARY KEY, created_at REAL NOT NULL, expires_at REAL, allow_production INTEGER NOT NULL,
              description TEXT, uses INTEGER NOT NULL DEFAULT 0);
            """)
        }
        return migrator
    }

    // MARK: Settings

    public func setting(_ key: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: [key, value])
        }
    }

    // MARK: Devices

    /// What a device's request headers say about it (`x-ats-*`).
    public struct CheckIn: Sendable, Equatable {
        public var tags: String?
        public var targetName: String?
        public var ostreeHash: String?
        public var dockerApps: String?
        public init(tags: String? = nil, targetName: String? = nil, ostreeHash: String? = nil, dockerApps: String? = nil) {
            self.tags = tags
            self.targetName = targetName
            self.ostreeHash = ostreeHash
            self.dockerApps = dockerApps
        }
    }

    public enum CheckInOutcome: Sendable, Equatable {
        case known
        case created
        /// The UUID is registered with another key: the request must be refused.
        case keyMismatch
    }

    /// Records a contact from `identity`: creates the device on first contact (its key is then
    /// the only one accepted for the UUID), and stores the header state and last-seen time.
    public func checkIn(_ identity: DeviceIdentity, state: CheckIn, at now: Double) async throws -> CheckInOutcome {
        try await pool.write { db in
            if let key = try String.fetchOne(db, sql: "SELECT pubkey FROM devices WHERE uuid = ?", arguments: [identity.uuid]) {
                guard key == identity.publicKeyPEM else { return .keyMismatch }
                try db.execute(sql: """
                UPDATE devices SET last_seen = ?, tags = coalesce(?, tags), target_name = coalesce(?, target_name),
                  ostree_hash = coalesce(?, ostree_hash), docker_apps = coalesce(?, docker_apps), is_prod = ?
                WHERE uuid = ?
                """, arguments: [now, state.tags, state.targetName, state.ostreeHash, state.dockerApps,
                                 identity.isProduction, identity.uuid])
                return .known
            }
            try db.execute(sql: """
            INSERT INTO devices(uuid, name, pubkey, is_prod, created_at, last_seen, tags, target_name, ostree_hash, docker_apps)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [identity.uuid, identity.uuid, identity.publicKeyPEM, identity.isProduction, now, now,
                             state.tags, state.targetName, state.ostreeHash, state.dockerApps])
            return .created
        }
    }

    /// A device registered through `POST /devices` (before it ever connects).
    public func registerDevice(_ identity: DeviceIdentity, name: String, hardwareID: String?, group: String?, tag: String?,
                               at now: Double) throws {
        try pool.write { db in
            try db.execute(sql: """
            INSERT INTO devices(uuid, name, pubkey, is_prod, hardware_id, group_name, created_at, tags)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [identity.uuid, name, identity.publicKeyPEM, identity.isProduction, hardwareID, group, now, tag])
        }
    }

    public func device(_ uuid: String) throws -> DeviceRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM devices WHERE uuid = ?", arguments: [uuid]).map(DeviceRecord.init(row:))
        }
    }

    /// Every device, newest contact first; with `tag`, only devices whose reported tags include it.
    public func devices(tag: String? = nil) throws -> [DeviceRecord] {
        let all = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM devices ORDER BY coalesce(last_seen, created_at) DESC, uuid")
                .map(DeviceRecord.init(row:))
        }
        guard let tag else { return all }
        return all.filter { $0.tags.contains(tag) }
    }

    // MARK: Reports

    /// Stores events; an event id already stored for the device is ignored (devices resend
    /// after a lost answer). Returns how many were new.
    @discardableResult
    public func record(events: [DeviceEvent], for uuid: String, at now: Double) async throws -> Int {
        try await pool.write { db in
            var added = 0
            for event in events {
                try db.execute(sql: """
                INSERT OR IGNORE INTO events(device_uuid, id, device_time, received_at, event_type, event_version,
                  correlation_id, target_name, version, success, ecu, details)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [uuid, event.id, event.deviceTime, now, event.type, event.typeVersion, event.correlationID,
                                 event.targetName, event.version, event.success, event.ecu, event.details])
                added += db.changesCount
            }
            return added
        }
    }

    public func events(for uuid: String, limit: Int = 20) throws -> [DeviceEvent] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
            SELECT * FROM events WHERE device_uuid = ? ORDER BY received_at DESC, rowid DESC LIMIT ?
            """, arguments: [uuid, limit]).map(DeviceEvent.init(row:))
        }
    }

    public func record(appsStates: AppsStates, for uuid: String, at now: Double) async throws {
        try await pool.write { db in
            try db.execute(sql: """
            INSERT INTO apps_states(device_uuid, device_time, ostree, apps, received_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(device_uuid) DO UPDATE SET device_time = excluded.device_time, ostree = excluded.ostree,
              apps = excluded.apps, received_at = excluded.received_at
            """, arguments: [uuid, appsStates.deviceTime, appsStates.ostree, appsStates.appsJSON, now])
        }
    }

    public func appsStates(for uuid: String) throws -> AppsStates? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM apps_states WHERE device_uuid = ?", arguments: [uuid]).map {
                AppsStates(deviceTime: $0["device_time"], ostree: $0["ostree"], appsJSON: $0["apps"], receivedAt: $0["received_at"])
            }
        }
    }

    /// `hardware` (`PUT /system_info`), `network` or `config`.
    public func record(systemInfo body: [UInt8], kind: String, contentType: String?, for uuid: String, at now: Double) async throws {
        try await pool.write { db in
            try db.execute(sql: """
            INSERT INTO system_info(device_uuid, kind, content_type, body, updated_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(device_uuid, kind) DO UPDATE SET content_type = excluded.content_type, body = excluded.body,
              updated_at = excluded.updated_at
            """, arguments: [uuid, kind, contentType, Data(body), now])
        }
    }

    public func systemInfo(for uuid: String) throws -> [String: String] {
        try pool.read { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, body FROM system_info WHERE device_uuid = ?", arguments: [uuid]) {
                let body: Data = row["body"]
                result[row["kind"]] = String(decoding: body, as: UTF8.self)
            }
            return result
        }
    }

    /// The fioconfig document for a device and when it last changed, if any.
    public func config(for uuid: String) throws -> (body: String, updatedAt: Double)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT body, updated_at FROM device_config WHERE device_uuid = ?", arguments: [uuid])
                .map { ($0["body"], $0["updated_at"]) }
        }
    }

    public func setConfig(_ body: String, for uuid: String, at now: Double) throws {
        try pool.write { db in
            try db.execute(sql: """
            INSERT INTO device_config(device_uuid, body, updated_at) VALUES (?, ?, ?)
            ON CONFLICT(device_uuid) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at
            """, arguments: [uuid, body, now])
        }
    }

    // MARK: Fleet status

    public struct Status: Sendable, Codable, Equatable {
        public var devices: Int
        /// Devices per current Target name (`unknown` when a device never said).
        public var byTarget: [String: Int]
        /// Devices per reported tag (a device with several tags counts under each).
        public var byTag: [String: Int]
        /// Devices whose latest `*Completed` event failed.
        public var failed: Int
        /// Devices whose latest failed event's details mention a rollback.
        public var rolledBack: Int
    }

    public func status() throws -> Status {
        let devices = try devices()
        var byTarget: [String: Int] = [:]
        var byTag: [String: Int] = [:]
        for device in devices {
            byTarget[device.targetName ?? "unknown", default: 0] += 1
            for tag in device.tags { byTag[tag, default: 0] += 1 }
        }
        let latest = try pool.read { db in
            try Row.fetchAll(db, sql: """
            SELECT e.device_uuid, e.success, e.details FROM events e
            WHERE e.success IS NOT NULL AND e.rowid = (
              SELECT rowid FROM events WHERE device_uuid = e.device_uuid AND success IS NOT NULL
              ORDER BY received_at DESC, rowid DESC LIMIT 1)
            """).map { (success: ($0["success"] as Bool?) ?? true, details: ($0["details"] as String?) ?? "") }
        }
        let failures = latest.filter { !$0.success }
        return Status(devices: devices.count, byTarget: byTarget, byTag: byTag, failed: failures.count,
                      rolledBack: failures.filter { $0.details.lowercased().contains("rollback") || $0.details.lowercased().contains("rolled back") }.count)
    }

    // MARK: Registration tokens

    /// Stores a new token (only its SHA-256) and returns it; it is shown once.
    public func createToken(expiresAt: Double?, allowProduction: Bool, description: String?, at now: Double) throws -> String {
        var random = [UInt8](repeating: 0, count: 24)
        for index in random.indices { random[index] = UInt8.random(in: 0...255) }
        let token = Hex.encode(random)
        try pool.write { db in
            try db.execute(sql: "INSERT INTO tokens(hash, created_at, expires_at, allow_production, description) VALUES (?, ?, ?, ?, ?)",
                           arguments: [Self.tokenHash(token), now, expiresAt, allowProduction, description])
        }
        return token
    }

    public struct TokenGrant: Sendable, Equatable {
        public var allowProduction: Bool
    }

    /// The grant of a valid, unexpired token (its use is counted), or nil.
    public func useToken(_ token: String, at now: Double) throws -> TokenGrant? {
        let hash = Self.tokenHash(token)
        return try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT expires_at, allow_production FROM tokens WHERE hash = ?", arguments: [hash])
            else { return nil }
            if let expires: Double = row["expires_at"], expires < now { return nil }
            try db.execute(sql: "UPDATE tokens SET uses = uses + 1 WHERE hash = ?", arguments: [hash])
            return TokenGrant(allowProduction: row["allow_production"])
        }
    }

    static func tokenHash(_ token: String) -> String { Hex.encode(Digest.sha256(Array(token.utf8))) }
}

/// A device as the factory knows it.
public struct DeviceRecord: Sendable, Codable, Equatable {
    public var uuid: String
    public var name: String
    public var publicKey: String
    public var isProduction: Bool
    public var hardwareID: String?
    public var group: String?
    public var createdAt: Double
    public var lastSeen: Double?
    public var tags: [String]
    public var targetName: String?
    public var ostreeHash: String?
    public var dockerApps: [String]

    init(row: Row) {
        uuid = row["uuid"]
        name = row["name"]
        publicKey = row["pubkey"]
        isProduction = row["is_prod"]
        hardwareID = row["hardware_id"]
        group = row["group_name"]
        createdAt = row["created_at"]
        lastSeen = row["last_seen"]
        tags = Self.list(row["tags"])
        targetName = row["target_name"]
        ostreeHash = row["ostree_hash"]
        dockerApps = Self.list(row["docker_apps"])
    }

    static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
            .filter { !$0.isEmpty }
    }
}
