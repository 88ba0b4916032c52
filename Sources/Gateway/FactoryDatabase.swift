import Factory
import FoundationEssentials
import GRDB
import OtterCrypto

/// The factory database: devices, what they report, registration tokens, groups, waves,
/// production TUF metadata and factory settings, on one of two engines: SQLite
/// (`<factory>/factory.db`, WAL; the default) or PostgreSQL (`--database postgres://…`). The
/// gateway keeps no other state, so several gateways can share one PostgreSQL, and the
/// `otter-factory` commands read the same database.
///
/// Every device row and report is keyed by the device UUID (the CN of its client certificate).
public final class FactoryDatabase: Sendable {
    public let engine: any DatabaseEngine

    public init(engine: any DatabaseEngine) {
        self.engine = engine
    }

    /// The SQLite engine on `path`.
    public convenience init(path: String) throws {
        self.init(engine: try SQLiteEngine(path: path, migrator: Self.migrator))
    }

    public convenience init(factory: FactoryDirectory) throws {
        try self.init(path: factory.path + "/factory.db")
    }

    /// `location`: nil for the factory's SQLite file, `postgres://…` for PostgreSQL, or
    /// another SQLite file path.
    public static func open(_ location: String?, factory: FactoryDirectory?) async throws -> FactoryDatabase {
        guard let location else {
            guard let factory else { throw FactoryError("no database given: pass --database postgres://… or a factory directory") }
            return try FactoryDatabase(factory: factory)
        }
        if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
            let database = FactoryDatabase(engine: try await PostgresEngine(url: location, schema: Self.postgresSchema))
            try await database.fillDeviceTagsOnce()
            return database
        }
        return try FactoryDatabase(path: location)
    }

    public func close() async { await engine.close() }

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
        migrator.registerMigration("v2-waves") { db in
            try db.execute(sql: """
            ALTER TABLE devices ADD COLUMN windows TEXT;
            ALTER TABLE devices ADD COLUMN windows_updated_at REAL;
            """ + Self.waveTables(real: "REAL", blob: "BLOB"))
        }
        migrator.registerMigration("v3-device-tags") { db in
            try db.execute(sql: Self.tagTables + Self.tagBackfill(find: "instr") + """
            ;
            ALTER TABLE wave_rollouts ADD COLUMN ignore_windows INTEGER NOT NULL DEFAULT 0;
            """)
        }
        return migrator
    }

    /// A device's tags one per row, so that choosing devices by tag is an index lookup
    /// (`device_tags` primary key) instead of matching every device's `tags` text. `devices.tags`
    /// keeps the list as the device sent it; both change together (`tagStatements`).
    static let tagTables = """
    CREATE TABLE IF NOT EXISTS device_tags(
      tag TEXT NOT NULL, device_uuid TEXT NOT NULL REFERENCES devices(uuid) ON DELETE CASCADE, PRIMARY KEY(tag, device_uuid));
    CREATE INDEX IF NOT EXISTS device_tags_by_device ON device_tags(device_uuid);

    """

    /// Fills `device_tags` from the `tags` lists of a database made before it existed (one
    /// statement; `find` is the engine's substring-position function).
    static func tagBackfill(find: String) -> String {
        """
        WITH RECURSIVE split(uuid, tag, rest) AS (
          SELECT uuid, CAST('' AS TEXT), tags || ',' FROM devices WHERE tags IS NOT NULL
          UNION ALL
          SELECT uuid, trim(substr(rest, 1, \(find)(rest, ',') - 1)), substr(rest, \(find)(rest, ',') + 1) FROM split WHERE rest <> '')
        INSERT INTO device_tags(tag, device_uuid) SELECT DISTINCT tag, uuid FROM split WHERE tag <> '' ON CONFLICT DO NOTHING
        """
    }

    /// The statements that make `device_tags` hold exactly the tags of the comma-separated `tags`.
    static func tagStatements(_ uuid: String, _ tags: String?) -> [SQLStatement] {
        let list = Array(Set(DeviceRecord.list(tags))).sorted()
        var statements = [SQLStatement("DELETE FROM device_tags WHERE device_uuid = ?", [uuid])]
        if !list.isEmpty {
            statements.append(SQLStatement("INSERT INTO device_tags(tag, device_uuid) VALUES " + list.map { _ in "(?, ?)" }.joined(separator: ", "),
                                           list.flatMap { [$0, uuid] as [any SQLBindable] }))
        }
        return statements
    }

    /// Tables and indexes of issue #11, in the syntax both engines take.
    static func waveTables(real: String, blob: String) -> String {
        """
        CREATE INDEX IF NOT EXISTS devices_by_seen ON devices(is_prod, last_seen);
        CREATE INDEX IF NOT EXISTS devices_by_group ON devices(group_name, last_seen);
        CREATE TABLE IF NOT EXISTS device_groups(name TEXT PRIMARY KEY, windows TEXT, created_at \(real) NOT NULL,
          updated_at \(real) NOT NULL);
        CREATE TABLE IF NOT EXISTS waves(
          name TEXT PRIMARY KEY, tag TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL,
          ignore_windows INTEGER NOT NULL DEFAULT 0, targets_version INTEGER NOT NULL,
          created_at \(real) NOT NULL, finished_at \(real));
        CREATE UNIQUE INDEX IF NOT EXISTS waves_one_active_per_tag ON waves(tag) WHERE state = 'active';
        CREATE TABLE IF NOT EXISTS wave_targets(wave TEXT NOT NULL, target_name TEXT NOT NULL, PRIMARY KEY(wave, target_name));
        CREATE TABLE IF NOT EXISTS wave_rollouts(
          wave TEXT NOT NULL, number INTEGER NOT NULL, created_at \(real) NOT NULL, selection TEXT NOT NULL,
          devices INTEGER NOT NULL, PRIMARY KEY(wave, number));
        CREATE TABLE IF NOT EXISTS wave_devices(
          wave TEXT NOT NULL, device_uuid TEXT NOT NULL, rollout INTEGER NOT NULL, added_at \(real) NOT NULL,
          PRIMARY KEY(wave, device_uuid));
        CREATE INDEX IF NOT EXISTS wave_devices_by_device ON wave_devices(device_uuid);
        CREATE TABLE IF NOT EXISTS tuf_documents(
          repo TEXT NOT NULL, name TEXT NOT NULL, body \(blob) NOT NULL, PRIMARY KEY(repo, name));
        """
    }

    static var postgresSchema: [String] {
        let v1 = """
        CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS devices(
          uuid TEXT PRIMARY KEY, name TEXT NOT NULL, pubkey TEXT NOT NULL, is_prod BIGINT NOT NULL,
          hardware_id TEXT, group_name TEXT, created_at DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION,
          tags TEXT, target_name TEXT, ostree_hash TEXT, docker_apps TEXT, windows TEXT,
          windows_updated_at DOUBLE PRECISION);
        CREATE TABLE IF NOT EXISTS events(
          device_uuid TEXT NOT NULL REFERENCES devices(uuid) ON DELETE CASCADE, id TEXT NOT NULL,
          device_time TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL, event_type TEXT NOT NULL,
          event_version BIGINT NOT NULL, correlation_id TEXT NOT NULL, target_name TEXT, version TEXT,
          success BIGINT, ecu TEXT, details TEXT, PRIMARY KEY(device_uuid, id));
        CREATE INDEX IF NOT EXISTS events_by_time ON events(device_uuid, received_at);
        CREATE TABLE IF NOT EXISTS apps_states(
          device_uuid TEXT PRIMARY KEY REFERENCES devices(uuid) ON DELETE CASCADE, device_time TEXT NOT NULL,
          ostree TEXT, apps TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL);
        CREATE TABLE IF NOT EXISTS system_info(
          device_uuid TEXT NOT NULL REFERENCES devices(uuid) ON DELETE CASCADE, kind TEXT NOT NULL,
          content_type TEXT, body BYTEA NOT NULL, updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY(device_uuid, kind));
        CREATE TABLE IF NOT EXISTS device_config(
          device_uuid TEXT PRIMARY KEY REFERENCES devices(uuid) ON DELETE CASCADE, body TEXT NOT NULL,
          updated_at DOUBLE PRECISION NOT NULL);
        CREATE TABLE IF NOT EXISTS tokens(
          hash TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION,
          allow_production BIGINT NOT NULL, description TEXT, uses BIGINT NOT NULL DEFAULT 0);
        """ + waveTables(real: "DOUBLE PRECISION", blob: "BYTEA") + tagTables + """
        ALTER TABLE wave_rollouts ADD COLUMN IF NOT EXISTS ignore_windows INTEGER NOT NULL DEFAULT 0;
        """
        // One statement per entry (the extended protocol takes one at a time); the integer
        // columns of the shared tables are BIGINT so bound Int64 values compare and insert as is.
        return v1.split(separator: ";").map { String($0).replacing("INTEGER", with: "BIGINT") }
            .filter { $0.contains { !$0.isWhitespace } }
    }

    /// Set once a PostgreSQL database's `device_tags` was filled from its devices' `tags`.
    static let tagsMigrated = "schema.device_tags"

    /// PostgreSQL runs its (idempotent) schema at every open; the fill of `device_tags` runs
    /// only until it is recorded as done (checking that is one key lookup per open).
    func fillDeviceTagsOnce() async throws {
        guard try await setting(Self.tagsMigrated) == nil else { return }
        try await engine.execute([SQLStatement(Self.tagBackfill(find: "strpos")), SQLStatement("""
        INSERT INTO settings(key, value) VALUES (?, '1') ON CONFLICT(key) DO NOTHING
        """, [Self.tagsMigrated])])
    }

    // MARK: Settings

    public func setting(_ key: String) async throws -> String? {
        try await engine.queryOne("SELECT value FROM settings WHERE key = ?", [key])?.string("value")
    }

    public func setSetting(_ key: String, _ value: String) async throws {
        try await engine.execute("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                 [key, value])
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
    ///
    /// Tags are written (with their `device_tags` rows, in one transaction) only when they
    /// differ from the stored ones: the common check-in stays a single statement.
    public func checkIn(_ identity: DeviceIdentity, state: CheckIn, at now: Double) async throws -> CheckInOutcome {
        // A new device's tags are left for the update below, so a crash between the two
        // statements leaves tags that differ, and the next check-in writes them.
        let created = try await engine.query("""
        INSERT INTO devices(uuid, name, pubkey, is_prod, created_at, last_seen, target_name, ostree_hash, docker_apps)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(uuid) DO NOTHING RETURNING uuid
        """, [identity.uuid, identity.uuid, identity.publicKeyPEM, identity.isProduction, now, now,
              state.targetName, state.ostreeHash, state.dockerApps])
        var arguments: [any SQLBindable] = [now, state.targetName, state.ostreeHash, state.dockerApps, identity.isProduction,
                                            identity.uuid, identity.publicKeyPEM]
        if let tags = state.tags { arguments.append(tags) }
        let updated = try await engine.query("""
        UPDATE devices SET last_seen = ?, target_name = coalesce(?, target_name),
          ostree_hash = coalesce(?, ostree_hash), docker_apps = coalesce(?, docker_apps), is_prod = ?
        WHERE uuid = ? AND pubkey = ?
        RETURNING \(state.tags == nil ? "0" : "CASE WHEN tags IS NULL OR tags <> ? THEN 1 ELSE 0 END") AS tags_changed
        """, arguments)
        guard let row = updated.first else { return .keyMismatch }
        if let tags = state.tags, row.int("tags_changed") == 1 {
            try await engine.execute([SQLStatement("UPDATE devices SET tags = ? WHERE uuid = ?", [tags, identity.uuid])]
                                     + Self.tagStatements(identity.uuid, tags))
        }
        return created.isEmpty ? .known : .created
    }

    /// A device registered through `POST /devices` (before it ever connects).
    public func registerDevice(_ identity: DeviceIdentity, name: String, hardwareID: String?, group: String?, tag: String?,
                               at now: Double) async throws {
        try await engine.execute([SQLStatement("""
        INSERT INTO devices(uuid, name, pubkey, is_prod, hardware_id, group_name, created_at, tags)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """, [identity.uuid, name, identity.publicKeyPEM, identity.isProduction, hardwareID, group, now, tag])]
            + Self.tagStatements(identity.uuid, tag))
    }

    public func device(_ uuid: String) async throws -> DeviceRecord? {
        try await engine.queryOne("SELECT * FROM devices WHERE uuid = ?", [uuid]).map(DeviceRecord.init(row:))
    }

    /// Every device, newest contact first; with `tag`, only devices whose reported tags
    /// include it; with `group`, only that group's.
    public func devices(tag: String? = nil, group: String? = nil) async throws -> [DeviceRecord] {
        var conditions: [String] = []
        var arguments: [any SQLBindable] = []
        if let group {
            conditions.append("group_name = ?")
            arguments.append(group)
        }
        if let tag {
            conditions.append("EXISTS (SELECT 1 FROM device_tags t WHERE t.tag = ? AND t.device_uuid = devices.uuid)")
            arguments.append(tag)
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try await engine.query("SELECT * FROM devices" + filter + " ORDER BY coalesce(last_seen, created_at) DESC, uuid", arguments)
            .map(DeviceRecord.init(row:))
    }

    // MARK: Reports

    /// Stores events; an event id already stored for the device is ignored (devices resend
    /// after a lost answer). Returns how many were new. Events of one batch are received
    /// 1 µs apart, so `received_at` alone orders them.
    @discardableResult
    public func record(events: [DeviceEvent], for uuid: String, at now: Double) async throws -> Int {
        var added = 0
        for (index, event) in events.enumerated() {
            added += try await engine.query("""
            INSERT INTO events(device_uuid, id, device_time, received_at, event_type, event_version,
              correlation_id, target_name, version, success, ecu, details)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_uuid, id) DO NOTHING RETURNING id
            """, [uuid, event.id, event.deviceTime, now + Double(index) * 1e-6, event.type, event.typeVersion,
                  event.correlationID, event.targetName, event.version, event.success, event.ecu, event.details]).count
        }
        return added
    }

    public func events(for uuid: String, limit: Int = 20) async throws -> [DeviceEvent] {
        try await engine.query("SELECT * FROM events WHERE device_uuid = ? ORDER BY received_at DESC, id DESC LIMIT ?",
                               [uuid, limit]).map(DeviceEvent.init(row:))
    }

    public func record(appsStates: AppsStates, for uuid: String, at now: Double) async throws {
        try await engine.execute("""
        INSERT INTO apps_states(device_uuid, device_time, ostree, apps, received_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(device_uuid) DO UPDATE SET device_time = excluded.device_time, ostree = excluded.ostree,
          apps = excluded.apps, received_at = excluded.received_at
        """, [uuid, appsStates.deviceTime, appsStates.ostree, appsStates.appsJSON, now])
    }

    public func appsStates(for uuid: String) async throws -> AppsStates? {
        try await engine.queryOne("SELECT * FROM apps_states WHERE device_uuid = ?", [uuid]).map {
            AppsStates(deviceTime: $0.string("device_time") ?? "", ostree: $0.string("ostree"), appsJSON: $0.string("apps") ?? "{}",
                       receivedAt: $0.double("received_at"))
        }
    }

    /// `hardware` (`PUT /system_info`), `network` or `config`.
    public func record(systemInfo body: [UInt8], kind: String, contentType: String?, for uuid: String, at now: Double) async throws {
        try await engine.execute("""
        INSERT INTO system_info(device_uuid, kind, content_type, body, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(device_uuid, kind) DO UPDATE SET content_type = excluded.content_type, body = excluded.body,
          updated_at = excluded.updated_at
        """, [uuid, kind, contentType, body, now])
    }

    public func systemInfo(for uuid: String) async throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try await engine.query("SELECT kind, body FROM system_info WHERE device_uuid = ?", [uuid]) {
            result[row.string("kind") ?? ""] = String(decoding: row.bytes("body") ?? [], as: UTF8.self)
        }
        return result
    }

    /// The fioconfig document for a device and when it last changed, if any.
    public func config(for uuid: String) async throws -> (body: String, updatedAt: Double)? {
        try await engine.queryOne("SELECT body, updated_at FROM device_config WHERE device_uuid = ?", [uuid]).map {
            ($0.string("body") ?? "{}", $0.double("updated_at") ?? 0)
        }
    }

    public func setConfig(_ body: String, for uuid: String, at now: Double) async throws {
        try await engine.execute("""
        INSERT INTO device_config(device_uuid, body, updated_at) VALUES (?, ?, ?)
        ON CONFLICT(device_uuid) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at
        """, [uuid, body, now])
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

    /// SQL: the latest event with an outcome of each device (`success`, `details`, `device_uuid`).
    static let latestOutcomes = """
    SELECT device_uuid, success, details FROM (
      SELECT device_uuid, success, details,
        ROW_NUMBER() OVER (PARTITION BY device_uuid ORDER BY received_at DESC, id DESC) AS position
      FROM events WHERE success IS NOT NULL) latest WHERE position = 1
    """

    public func status() async throws -> Status {
        var byTarget: [String: Int] = [:]
        var byTag: [String: Int] = [:]
        var devices = 0
        for row in try await engine.query("SELECT target_name, tags, count(*) AS n FROM devices GROUP BY target_name, tags") {
            let count = row.int("n") ?? 0
            devices += count
            byTarget[row.string("target_name") ?? "unknown", default: 0] += count
            for tag in DeviceRecord.list(row.string("tags")) { byTag[tag, default: 0] += count }
        }
        let failures = try await engine.query(Self.latestOutcomes).filter { $0.bool("success") == false }
        return Status(devices: devices, byTarget: byTarget, byTag: byTag, failed: failures.count,
                      rolledBack: failures.filter { Self.mentionsRollback($0.string("details")) }.count)
    }

    static func mentionsRollback(_ details: String?) -> Bool {
        let text = (details ?? "").lowercased()
        return text.contains("rollback") || text.contains("rolled back")
    }

    // MARK: Registration tokens

    /// Stores a new token (only its SHA-256) and returns it; it is shown once.
    public func createToken(expiresAt: Double?, allowProduction: Bool, description: String?, at now: Double) async throws -> String {
        let token = Self.randomToken()
        try await engine.execute("INSERT INTO tokens(hash, created_at, expires_at, allow_production, description) VALUES (?, ?, ?, ?, ?)",
                                 [Self.tokenHash(token), now, expiresAt, allowProduction, description])
        return token
    }

    static func randomToken() -> String {
        var random = [UInt8](repeating: 0, count: 24)
        for index in random.indices { random[index] = UInt8.random(in: 0...255) }
        return Hex.encode(random)
    }

    public struct TokenGrant: Sendable, Equatable {
        public var allowProduction: Bool
    }

    /// The grant of a valid, unexpired token (its use is counted), or nil.
    public func useToken(_ token: String, at now: Double) async throws -> TokenGrant? {
        try await engine.queryOne("""
        UPDATE tokens SET uses = uses + 1 WHERE hash = ? AND (expires_at IS NULL OR expires_at >= ?) RETURNING allow_production
        """, [Self.tokenHash(token), now]).map { TokenGrant(allowProduction: $0.bool("allow_production") ?? false) }
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

    /// Update windows set on this device itself (they override its group's).
    public var windows: [String]?

    init(row: SQLRow) {
        uuid = row.string("uuid") ?? ""
        name = row.string("name") ?? ""
        publicKey = row.string("pubkey") ?? ""
        isProduction = row.bool("is_prod") ?? false
        hardwareID = row.string("hardware_id")
        group = row.string("group_name")
        createdAt = row.double("created_at") ?? 0
        lastSeen = row.double("last_seen")
        tags = Self.list(row.string("tags"))
        targetName = row.string("target_name")
        ostreeHash = row.string("ostree_hash")
        dockerApps = Self.list(row.string("docker_apps"))
        windows = row.string("windows").map(UpdateWindowConfig.decodeList)
    }

    static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
            .filter { !$0.isEmpty }
    }
}
