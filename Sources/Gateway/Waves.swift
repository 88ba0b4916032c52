import Factory
import FoundationEssentials
import TUF

/// Waves (issue #11): a Target of the CI repository offered to chosen production devices of a
/// tag under metadata the operator signed offline, then completed (every production device of
/// the tag sees it) or cancelled.
public struct WaveStore: Sendable {
    public let database: FactoryDatabase
    public let production: ProductionRepository
    var engine: any DatabaseEngine { database.engine }

    /// At most this many UUIDs (or `--limit`) per rollout command.
    public static let maxPerCommand = 10_000
    /// Custom field of a wave's Target that tells devices to ignore their update windows.
    public static let ignoreWindowsField = "otter-ignore-windows"

    public init(database: FactoryDatabase, factory: FactoryDirectory) {
        self.database = database
        production = ProductionRepository(database: database, factory: factory)
    }

    public struct Wave: Sendable, Codable, Equatable {
        public var name: String
        public var tag: String
        public var version: String
        public var state: String
        public var ignoreWindows: Bool
        public var createdAt: Double
        public var finishedAt: Double?
        public var targets: [String]
    }

    public func wave(_ name: String) async throws -> Wave? {
        guard let row = try await engine.queryOne("SELECT * FROM waves WHERE name = ?", [name]) else { return nil }
        return try await wave(row)
    }

    func wave(_ row: SQLRow) async throws -> Wave {
        let name = row.string("name") ?? ""
        let targets = try await engine.query("SELECT target_name FROM wave_targets WHERE wave = ? ORDER BY target_name", [name])
            .compactMap { $0.string("target_name") }
        return Wave(name: name, tag: row.string("tag") ?? "", version: row.string("version") ?? "", state: row.string("state") ?? "",
                    ignoreWindows: row.bool("ignore_windows") ?? false, createdAt: row.double("created_at") ?? 0,
                    finishedAt: row.double("finished_at"), targets: targets)
    }

    public func waves() async throws -> [Wave] {
        var result: [Wave] = []
        for row in try await engine.query("SELECT * FROM waves ORDER BY created_at, name") { result.append(try await wave(row)) }
        return result
    }

    func require(_ name: String) async throws -> Wave {
        guard let wave = try await wave(name) else {
            throw FactoryError("no wave named \(name); `otter-factory waves list` shows them")
        }
        return wave
    }

    // MARK: init

    /// What the operator signs for a new wave: the wave's targets (only its Targets), the
    /// production targets after `complete` (current + the wave's) and after `cancel`
    /// (current, re-signed at a higher version than the wave's so devices drop it).
    public struct SigningRequest: Sendable {
        public var wave: JSONObject
        public var complete: JSONObject
        public var cancel: JSONObject
        public init(wave: JSONObject, complete: JSONObject, cancel: JSONObject) {
            self.wave = wave
            self.complete = complete
            self.cancel = cancel
        }
    }

    public struct SignedWave: Sendable {
        public var wave: [UInt8]
        public var complete: [UInt8]
        public var cancel: [UInt8]
        public init(wave: [UInt8], complete: [UInt8], cancel: [UInt8]) {
            self.wave = wave
            self.complete = complete
            self.cancel = cancel
        }
    }

    /// The three bodies to sign for wave `name` of CI Targets with `version` for `tag`.
    public func signingRequest(name: String, version: String, tag: String, ci: [TargetSpec], ignoreWindows: Bool) async throws
        -> SigningRequest {
        if let active = try await engine.queryOne("SELECT name FROM waves WHERE tag = ? AND state = 'active'", [tag]) {
            throw FactoryError("tag \(tag) already has an active wave, \(active.string("name") ?? "?"); complete or cancel it first")
        }
        if try await wave(name) != nil { throw FactoryError("a wave named \(name) exists already; choose another name") }
        let chosen = ci.filter { $0.version == version }
        guard !chosen.isEmpty else {
            throw FactoryError("the CI repository has no Target with version \(version); `otter-factory targets list` shows them")
        }
        let current = try await production.targets(tag: tag)
        let currentVersion = current["version"]?.integerValue ?? 1
        var waveTargets = JSONObject()
        var completed = current["targets"]?.objectValue ?? JSONObject()
        for target in chosen {
            var entry = target.entry
            var custom = entry["custom"]?.objectValue ?? JSONObject()
            custom["tags"] = .array([.string(tag)])
            entry["custom"] = .object(custom)
            completed[target.name] = .object(entry)
            if ignoreWindows { custom[Self.ignoreWindowsField] = .bool(true) }
            entry["custom"] = .object(custom)
            waveTargets[target.name] = .object(entry)
        }
        return SigningRequest(
            wave: ProductionRepository.targetsBody(version: currentVersion + 1, targets: waveTargets),
            complete: ProductionRepository.targetsBody(version: currentVersion + 2, targets: completed),
            cancel: ProductionRepository.targetsBody(version: currentVersion + 2, targets: current["targets"]?.objectValue ?? JSONObject()))
    }

    public static func sign(_ request: SigningRequest, with key: TUFSigningKey) throws -> SignedWave {
        SignedWave(wave: try ProductionRepository.sign(targets: request.wave, with: key),
                   complete: try ProductionRepository.sign(targets: request.complete, with: key),
                   cancel: try ProductionRepository.sign(targets: request.cancel, with: key))
    }

    /// Server side of `waves init`: checks the offline signatures, co-signs, stores the wave
    /// repository and the pending complete/cancel metadata.
    public func create(name: String, version: String, tag: String, signed: SignedWave, ignoreWindows: Bool, at now: Double) async throws {
        if let active = try await engine.queryOne("SELECT name FROM waves WHERE tag = ? AND state = 'active'", [tag]) {
            throw FactoryError("tag \(tag) already has an active wave, \(active.string("name") ?? "?"); complete or cancel it first")
        }
        let root = try await production.root(tag: tag)
        guard let rootBytes = try await production.document(ProductionRepository.prodRepo(tag), "root.json") else {
            throw FactoryError("tag \(tag) has no production root")
        }
        let wave = try production.cosign(signed.wave, tag: tag, root: root)
        let complete = try production.cosign(signed.complete, tag: tag, root: root)
        let cancel = try production.cosign(signed.cancel, tag: tag, root: root)
        let targetNames = (try ProductionRepository.signedBody(wave, what: "the wave targets")["targets"]?.objectValue ?? JSONObject()).keys
        var statements = [SQLStatement("""
        INSERT INTO waves(name, tag, version, state, ignore_windows, targets_version, created_at) VALUES (?, ?, ?, 'active', ?, ?, ?)
        """, [name, tag, version, ignoreWindows,
              try ProductionRepository.signedBody(wave, what: "the wave targets")["version"]?.integerValue ?? 0, now])]
        statements += targetNames.map { SQLStatement("INSERT INTO wave_targets(wave, target_name) VALUES (?, ?)", [name, $0]) }
        statements += production.statements(storing: try await production.documents(root: rootBytes, targets: wave, tag: tag),
                                            in: ProductionRepository.waveRepo(name))
        statements += production.statements(storing: ["complete.json": complete, "cancel.json": cancel],
                                            in: ProductionRepository.pendingRepo(name))
        do {
            try await engine.execute(statements)
        } catch {
            throw FactoryError("cannot create wave \(name) (is another wave of tag \(tag) active, or the name taken?): \(error)")
        }
    }

    // MARK: complete / cancel

    public func finish(_ name: String, complete: Bool, at now: Double) async throws {
        let wave = try await require(name)
        guard wave.state == "active" else {
            throw FactoryError("wave \(name) is already \(wave.state == "complete" ? "complete" : "cancelled"); a wave finishes once")
        }
        let file = complete ? "complete.json" : "cancel.json"
        guard let targets = try await production.document(ProductionRepository.pendingRepo(name), file) else {
            throw FactoryError("wave \(name) has no pre-signed \(file); it cannot be finished here")
        }
        var statements = try await production.publishProduction(tag: wave.tag, targets: targets)
        statements.append(SQLStatement("UPDATE waves SET state = ?, finished_at = ? WHERE name = ? AND state = 'active'",
                                       [complete ? "complete" : "cancelled", now, name]))
        try await engine.execute(statements)
    }

    // MARK: rollout

    public enum Selection: Sendable {
        case group(String)
        case uuids([String])
        case fleet
    }

    public struct Rollout: Sendable, Codable, Equatable {
        public var number: Int
        public var devices: [String]
        public var dryRun: Bool
        /// `--now`: its devices install without waiting for their update windows.
        public var ignoresWindows: Bool
    }

    /// Splits a UUID list on commas, semicolons and any whitespace; `@FILE` reads a file.
    public static func parseUUIDs(_ text: String) -> [String] {
        text.split { $0 == "," || $0 == ";" || $0.isWhitespace }.map(String.init)
    }

    /// Chooses production devices of the wave's tag and (unless `dryRun`) makes the wave's
    /// metadata visible to them. With `limit`, a pseudo-random sample of that size drawn from
    /// the `2 × limit` most recently seen candidates; devices already running the wave's
    /// Target or already in the wave are skipped. With `ignoreWindows` (`--now`), the gateway
    /// withholds the update windows of the rollout's devices while the wave is active (the
    /// wave's metadata was signed offline at `init`; this is the server's part).
    public func rollout(_ name: String, selection: Selection, limit: Int?, dryRun: Bool, ignoreWindows: Bool = false,
                        at now: Double) async throws -> Rollout {
        let wave = try await require(name)
        guard wave.state == "active" else { throw FactoryError("wave \(name) is \(wave.state); only an active wave rolls out") }
        if let limit, limit > Self.maxPerCommand || limit < 1 {
            throw FactoryError("--limit \(limit): a rollout takes 1 to \(Self.maxPerCommand) devices per command; run several commands for more")
        }
        let query = try Self.selectionQuery(wave: wave, selection: selection, limit: limit)
        if dryRun {
            return Rollout(number: 0, devices: try await engine.query(query).compactMap { $0.string("uuid") }, dryRun: true,
                           ignoresWindows: ignoreWindows)
        }
        let number = (try await engine.queryOne("SELECT coalesce(max(number), 0) AS n FROM wave_rollouts WHERE wave = ?", [name])?
            .int("n") ?? 0) + 1
        var insert = query
        insert.sql = "INSERT INTO wave_devices(wave, device_uuid, rollout, added_at) SELECT ?, uuid, ?, ? FROM (\(query.sql)) chosen RETURNING device_uuid"
        insert.arguments = [.text(name), .integer(Int64(number)), .real(now)] + query.arguments
        let added = try await engine.query(insert).compactMap { $0.string("device_uuid") }
        try await engine.execute("""
        INSERT INTO wave_rollouts(wave, number, created_at, selection, devices, ignore_windows) VALUES (?, ?, ?, ?, ?, ?)
        """, [name, number, now, Self.describe(selection, limit: limit), added.count, ignoreWindows])
        return Rollout(number: number, devices: added, dryRun: false, ignoresWindows: ignoreWindows)
    }

    /// The engine's plan for a rollout's selection query (`waves rollout --explain`).
    public func selectionPlan(_ name: String, selection: Selection, limit: Int?) async throws -> [String] {
        try await engine.explain(try Self.selectionQuery(wave: try await require(name), selection: selection, limit: limit))
    }

    static func describe(_ selection: Selection, limit: Int?) -> String {
        let base = switch selection {
        case .group(let group): "group \(group)"
        case .uuids(let list): "\(list.count) uuids"
        case .fleet: "fleet"
        }
        return limit.map { "\(base), limit \($0)" } ?? base
    }

    /// The selection as one set-based query (indexes `devices_by_seen`/`devices_by_group`, the
    /// `device_tags` and `wave_devices` primary keys): no per-device round trips and no pass over
    /// the fleet's tags text. The wave's Target names are literals, so the planner knows from its
    /// statistics that few devices run them, and a `limit` sample walks the last-seen index for
    /// about 2 × limit devices instead of sorting the whole tag.
    public static func selectionQuery(wave: Wave, selection: Selection, limit: Int?) throws -> SQLStatement {
        var conditions = ["d.is_prod = 1", "EXISTS (SELECT 1 FROM device_tags dt WHERE dt.tag = ? AND dt.device_uuid = d.uuid)",
                          "NOT EXISTS (SELECT 1 FROM wave_devices s WHERE s.wave = ? AND s.device_uuid = d.uuid)"]
        var arguments: [any SQLBindable] = [wave.tag, wave.name]
        if !wave.targets.isEmpty {
            conditions.append("coalesce(d.target_name, '') NOT IN (" + wave.targets.map { _ in "?" }.joined(separator: ", ") + ")")
            arguments += wave.targets.map { $0 as any SQLBindable }
        }
        switch selection {
        case .group(let group):
            conditions.append("d.group_name = ?")
            arguments.append(group)
        case .uuids(let uuids):
            guard uuids.count <= maxPerCommand else {
                throw FactoryError("\(uuids.count) UUIDs given; a rollout takes at most \(maxPerCommand) per command: split the list and run several")
            }
            guard !uuids.isEmpty else { throw FactoryError("the UUID list is empty") }
            let unique = Array(Set(uuids))
            conditions.append("d.uuid IN (" + unique.map { _ in "?" }.joined(separator: ",") + ")")
            arguments += unique.map { $0 as any SQLBindable }
        case .fleet:
            break
        }
        var sql = "SELECT d.uuid AS uuid FROM devices d WHERE " + conditions.joined(separator: " AND ")
        if let limit {
            sql = """
            SELECT uuid FROM (\(sql) ORDER BY d.last_seen DESC LIMIT \(limit * 2)) recent ORDER BY random() LIMIT \(limit)
            """
        }
        return SQLStatement(sql, arguments)
    }

    // MARK: status

    public struct Counts: Sendable, Codable, Equatable {
        public var rolledOut = 0
        public var updated = 0
        public var failed = 0
        public var rolledBack = 0
        public var notYetSeen = 0
        public init() {}
    }

    public struct Status: Sendable, Codable, Equatable {
        public var wave: Wave
        public var rollouts: [Int: Counts]
        public var total: Counts
        /// The rollouts made with `--now`.
        public var rolloutsIgnoringWindows: [Int]
    }

    /// Counts per rollout in one grouped query: updated = running a Target of the wave; failed
    /// and rolled back from the device's latest outcome event about a wave Target; not yet
    /// seen = no contact since it was rolled out to.
    public func status(_ name: String) async throws -> Status {
        let wave = try await require(name)
        let rows = try await engine.query("""
        SELECT wd.rollout AS rollout, count(*) AS rolled_out,
          sum(CASE WHEN t.target_name IS NOT NULL THEN 1 ELSE 0 END) AS updated,
          sum(CASE WHEN o.success = 0 THEN 1 ELSE 0 END) AS failed,
          sum(CASE WHEN o.success = 0 AND (lower(coalesce(o.details, '')) LIKE '%rollback%'
                OR lower(coalesce(o.details, '')) LIKE '%rolled back%') THEN 1 ELSE 0 END) AS rolled_back,
          sum(CASE WHEN d.last_seen IS NULL OR d.last_seen < wd.added_at THEN 1 ELSE 0 END) AS not_seen
        FROM wave_devices wd
        JOIN devices d ON d.uuid = wd.device_uuid
        LEFT JOIN wave_targets t ON t.wave = wd.wave AND t.target_name = d.target_name
        LEFT JOIN (
          SELECT device_uuid, success, details FROM (
            SELECT e.device_uuid, e.success, e.details,
              ROW_NUMBER() OVER (PARTITION BY e.device_uuid ORDER BY e.received_at DESC, e.id DESC) AS position
            FROM events e JOIN wave_devices w2 ON w2.device_uuid = e.device_uuid AND w2.wave = ?
            JOIN wave_targets t2 ON t2.wave = w2.wave AND t2.target_name = e.target_name
            WHERE e.success IS NOT NULL) ranked WHERE position = 1
        ) o ON o.device_uuid = wd.device_uuid
        WHERE wd.wave = ?
        GROUP BY wd.rollout ORDER BY wd.rollout
        """, [name, name])
        var rollouts: [Int: Counts] = [:]
        var total = Counts()
        for row in rows {
            var counts = Counts()
            counts.rolledOut = row.int("rolled_out") ?? 0
            counts.updated = row.int("updated") ?? 0
            counts.failed = row.int("failed") ?? 0
            counts.rolledBack = row.int("rolled_back") ?? 0
            counts.notYetSeen = row.int("not_seen") ?? 0
            rollouts[row.int("rollout") ?? 0] = counts
            total.rolledOut += counts.rolledOut
            total.updated += counts.updated
            total.failed += counts.failed
            total.rolledBack += counts.rolledBack
            total.notYetSeen += counts.notYetSeen
        }
        let now = try await engine.query("SELECT number FROM wave_rollouts WHERE wave = ? AND ignore_windows = 1 ORDER BY number", [name])
        return Status(wave: wave, rollouts: rollouts, total: total, rolloutsIgnoringWindows: now.compactMap { $0.int("number") })
    }
}

// MARK: - Groups and windows

extension FactoryDatabase {
    public struct Group: Sendable, Codable, Equatable {
        public var name: String
        public var windows: [String]
        public var devices: Int
    }

    public func createGroup(_ name: String, at now: Double) async throws {
        guard DeviceIdentity.isValidUUID(name) else {
            throw FactoryError("\(name) is not a group name; use letters, digits, - and _ (at most 64)")
        }
        let created = try await engine.query("""
        INSERT INTO device_groups(name, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING RETURNING name
        """, [name, now, now])
        guard !created.isEmpty else { throw FactoryError("group \(name) exists already") }
    }

    public func groups() async throws -> [Group] {
        try await engine.query("""
        SELECT g.name AS name, g.windows AS windows, (SELECT count(*) FROM devices d WHERE d.group_name = g.name) AS n
        FROM device_groups g ORDER BY g.name
        """).map { Group(name: $0.string("name") ?? "", windows: $0.string("windows").map(UpdateWindowConfig.decodeList) ?? [],
                         devices: $0.int("n") ?? 0) }
    }

    public func deleteGroup(_ name: String) async throws {
        let members = try await engine.queryOne("SELECT count(*) AS n FROM devices WHERE group_name = ?", [name])?.int("n") ?? 0
        guard members == 0 else {
            throw FactoryError("group \(name) still has \(members) device(s); move them with `otter-factory devices set-group` first")
        }
        guard !(try await engine.query("DELETE FROM device_groups WHERE name = ? RETURNING name", [name])).isEmpty else {
            throw FactoryError("no group named \(name); `otter-factory groups list` shows them")
        }
    }

    /// Moves devices into `group` (which must exist); returns the UUIDs not found.
    public func setGroup(_ uuids: [String], group: String, at now: Double) async throws -> [String] {
        guard try await engine.queryOne("SELECT name FROM device_groups WHERE name = ?", [group]) != nil else {
            throw FactoryError("no group named \(group); create it with `otter-factory groups create \(group)`")
        }
        var missing: [String] = []
        for uuid in uuids {
            let changed = try await engine.query(
                "UPDATE devices SET group_name = ?, windows_updated_at = ? WHERE uuid = ? RETURNING uuid", [group, now, uuid])
            if changed.isEmpty { missing.append(uuid) }
        }
        return missing
    }

    /// Sets a group's windows (validated; empty clears them).
    public func setGroupWindows(_ group: String, windows: [String], at now: Double) async throws {
        let valid = try UpdateWindowConfig.validated(windows)
        let changed = try await engine.query("UPDATE device_groups SET windows = ?, updated_at = ? WHERE name = ? RETURNING name",
                                             [valid.isEmpty ? nil : UpdateWindowConfig.encodeList(valid), now, group])
        guard !changed.isEmpty else { throw FactoryError("no group named \(group); create it with `otter-factory groups create \(group)`") }
    }

    /// Sets a device's own windows (they override its group's); nil goes back to the group's.
    public func setDeviceWindows(_ uuid: String, windows: [String]?, at now: Double) async throws {
        let valid = try windows.map(UpdateWindowConfig.validated)
        let changed = try await engine.query("UPDATE devices SET windows = ?, windows_updated_at = ? WHERE uuid = ? RETURNING uuid",
                                             [valid.map(UpdateWindowConfig.encodeList), now, uuid])
        guard !changed.isEmpty else { throw FactoryError("no device \(uuid); see `otter-factory devices list`") }
    }

    /// Whether `uuid` is in a `--now` rollout of an active wave (the gateway then sends it no
    /// update windows) and when that last changed: a `--now` rollout reaching it, or the end
    /// of such a wave. Nil when it never was in a `--now` rollout.
    public func windowsWithheld(_ uuid: String) async throws -> (active: Bool, changedAt: Double)? {
        guard let row = try await engine.queryOne("""
        SELECT count(*) AS n, max(CASE WHEN w.state = 'active' THEN 1 ELSE 0 END) AS active,
          max(r.created_at) AS rolled_out, max(w.finished_at) AS finished
        FROM wave_devices wd JOIN wave_rollouts r ON r.wave = wd.wave AND r.number = wd.rollout
        JOIN waves w ON w.name = wd.wave
        WHERE wd.device_uuid = ? AND r.ignore_windows = 1
        """, [uuid]), (row.int("n") ?? 0) > 0 else { return nil }
        return (row.int("active") == 1, max(row.double("rolled_out") ?? 0, row.double("finished") ?? 0))
    }

    /// The windows that apply to a device (its own, else its group's) and when they last changed.
    public func effectiveWindows(_ uuid: String) async throws -> (windows: [String], updatedAt: Double)? {
        guard let row = try await engine.queryOne("""
        SELECT d.windows AS own, d.windows_updated_at AS own_at, g.windows AS grouped, g.updated_at AS group_at
        FROM devices d LEFT JOIN device_groups g ON g.name = d.group_name WHERE d.uuid = ?
        """, [uuid]) else { return nil }
        let at = max(row.double("own_at") ?? 0, row.double("group_at") ?? 0)
        if let own = row.string("own") { return (UpdateWindowConfig.decodeList(own), at) }
        if let grouped = row.string("grouped") { return (UpdateWindowConfig.decodeList(grouped), at) }
        return at > 0 ? ([], at) : nil
    }
}
