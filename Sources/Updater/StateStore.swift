import FoundationEssentials
import GRDB

/// A Target marked bad: never applied again unless forced.
public struct BadTarget: Sendable, Equatable, Codable {
    public var name: String
    public var version: String
    public var reason: String
    public var markedAt: Date
}

/// An event waiting in the queue for upload to the gateway.
public struct QueuedEvent: Sendable, Equatable {
    public var id: Int64
    public var event: UpdateEvent
}

/// The last health check's result.
public struct HealthRecord: Sendable, Equatable, Codable {
    public var target: String
    public var passed: Bool
    public var summary: String
    public var reportJSON: String?
    public var time: Date
}

/// The device's update state in SQLite (`/var/lib/otter/state.db`, WAL): the current and
/// previous Targets, the update in flight and its step, bad Targets, the events queue, and the
/// last health report. Every change is one transaction, so a power cut leaves the old or the new
/// state, never half of it.
public final class StateStore: Sendable {
    let database: any DatabaseWriter
    /// Held while an executor runs (file stores only).
    let updateLock: UpdateLock?

    private init(database: any DatabaseWriter, lockPath: String?) throws {
        self.database = database
        self.updateLock = lockPath.map { UpdateLock(path: $0) }
        try Self.migrator.migrate(database)
    }

    /// Runs `body` as the only updater of this device.
    func exclusively<T>(_ body: () async throws -> T) async throws -> T {
        guard let updateLock else { return try await body() }
        return try await updateLock.hold(body)
    }

    /// Opens (creating) the database file in WAL mode.
    public static func open(path: String) throws -> StateStore {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // In WAL mode SQLite's NORMAL may lose the last commits at a power cut, while the side
        // effect recorded by them (a deployment, a bootloader write) survives: FULL syncs each one.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        do {
            return try StateStore(database: try DatabasePool(path: path, configuration: configuration), lockPath: path + ".lock")
        } catch {
            throw UpdaterError("cannot open the state database \(path): \(error); check that its directory is writable and the file is not corrupt (move it aside to start from scratch)")
        }
    }

    /// A throw-away store for tests.
    public static func inMemory() throws -> StateStore {
        try StateStore(database: try DatabaseQueue(), lockPath: nil)
    }

    /// `journal_mode` as SQLite reports it ("wal" for a file store).
    public func journalMode() throws -> String {
        try database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" }
    }

    /// `synchronous` as SQLite reports it (2 = FULL for a file store).
    public func synchronousMode() throws -> Int {
        try database.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "target_slot") { t in
                t.primaryKey("role", .text).check(sql: "role IN ('current', 'previous')")
                t.column("name", .text).notNull()
                t.column("json", .text).notNull()
            }
            try db.create(table: "update_progress") { t in
                t.primaryKey("slot", .integer).check(sql: "slot = 1")
                t.column("correlation_id", .text).notNull()
                t.column("target", .text).notNull()
                t.column("step", .text).notNull()
                t.column("rolling_back", .boolean).notNull()
                t.column("json", .text).notNull()
                t.column("updated_at", .double).notNull()
            }
            try db.create(table: "bad_target") { t in
                t.primaryKey("name", .text)
                t.column("version", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("marked_at", .double).notNull()
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .double).notNull()
                t.column("type", .text).notNull()
                t.column("correlation_id", .text).notNull()
                t.column("target", .text).notNull()
                t.column("version", .text).notNull()
                t.column("step", .text).notNull()
                t.column("result", .text).notNull()
                t.column("detail", .text)
            }
            try db.create(table: "health_report") { t in
                t.primaryKey("slot", .integer).check(sql: "slot = 1")
                t.column("target", .text).notNull()
                t.column("passed", .boolean).notNull()
                t.column("summary", .text).notNull()
                t.column("json", .text)
                t.column("time", .double).notNull()
            }
        }
        return migrator
    }

    // MARK: Targets

    public func current() throws -> Target? { try slot("current") }
    public func previous() throws -> Target? { try slot("previous") }

    private func slot(_ role: String) throws -> Target? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT json FROM target_slot WHERE role = ?", arguments: [role])
        }.map { try decode(Target.self, $0) }
    }

    /// Records the Target a device runs without an update (provisioning, `otter` first run).
    public func setCurrent(_ target: Target?) throws {
        try database.write { db in try Self.write(db, "current", target) }
    }

    private static func write(_ db: Database, _ role: String, _ target: Target?) throws {
        try db.execute(sql: "DELETE FROM target_slot WHERE role = ?", arguments: [role])
        if let target {
            try db.execute(sql: "INSERT INTO target_slot (role, name, json) VALUES (?, ?, ?)",
                           arguments: [role, target.name, try encode(target)])
        }
    }

    // MARK: the update in flight

    public func progress() throws -> UpdateProgress? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT json FROM update_progress WHERE slot = 1")
        }.map { try decode(UpdateProgress.self, $0) }
    }

    public func saveProgress(_ progress: UpdateProgress?, at time: Date) throws {
        try database.write { db in try Self.write(db, progress, at: time) }
    }

    private static func write(_ db: Database, _ progress: UpdateProgress?, at time: Date) throws {
        guard let progress else {
            try db.execute(sql: "DELETE FROM update_progress")
            return
        }
        try db.execute(sql: """
            INSERT OR REPLACE INTO update_progress (slot, correlation_id, target, step, rolling_back, json, updated_at)
            VALUES (1, ?, ?, ?, ?, ?, ?)
            """, arguments: [progress.id, progress.target.name, progress.step.rawValue, progress.isRollingBack,
                             try encode(progress), time.timeIntervalSince1970])
    }

    /// The update passed: `target` is current, the Target it replaced is previous, it is no longer
    /// bad (a forced retry that worked), and nothing is in flight. Idempotent.
    public func commit(_ progress: UpdateProgress, at time: Date) throws {
        try database.write { db in
            try Self.write(db, "current", progress.target)
            if let from = progress.from, from != progress.target { try Self.write(db, "previous", from) }
            try db.execute(sql: "DELETE FROM bad_target WHERE name = ?", arguments: [progress.target.name])
            try Self.write(db, nil, at: time)
        }
    }

    /// A rollback is complete. After a manual rollback of the current Target, the previous one
    /// becomes current (and nothing is previous); after a failed update, current never changed.
    /// Idempotent.
    public func finishRollback(_ progress: UpdateProgress, at time: Date) throws {
        try database.write { db in
            let current = try String.fetchOne(db, sql: "SELECT name FROM target_slot WHERE role = 'current'")
            if current == progress.target.name {
                try Self.write(db, "current", progress.from)
                try Self.write(db, "previous", nil)
            }
            try Self.write(db, nil, at: time)
        }
    }

    // MARK: bad Targets

    public func markBad(_ target: Target, reason: String, at time: Date) throws {
        try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO bad_target (name, version, reason, marked_at) VALUES (?, ?, ?, ?)",
                           arguments: [target.name, target.version, reason, time.timeIntervalSince1970])
        }
    }

    public func badTargets() throws -> [BadTarget] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT name, version, reason, marked_at FROM bad_target ORDER BY marked_at, name").map {
                BadTarget(name: $0["name"], version: $0["version"], reason: $0["reason"],
                          markedAt: Date(timeIntervalSince1970: $0["marked_at"]))
            }
        }
    }

    // MARK: events queue

    public func enqueue(_ event: UpdateEvent) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO event (time, type, correlation_id, target, version, step, result, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [event.time.timeIntervalSince1970, "\(event.step).\(event.result.rawValue)", event.correlationID,
                                 event.target, event.version, event.step, event.result.rawValue, event.detail])
        }
    }

    /// The oldest queued events first.
    public func queuedEvents(limit: Int = 100) throws -> [QueuedEvent] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM event ORDER BY id LIMIT ?", arguments: [limit]).map {
                QueuedEvent(id: $0["id"], event: UpdateEvent(
                    time: Date(timeIntervalSince1970: $0["time"]), correlationID: $0["correlation_id"], target: $0["target"],
                    version: $0["version"], step: $0["step"], result: UpdateEvent.Result(rawValue: $0["result"]) ?? .failed,
                    detail: $0["detail"]))
            }
        }
    }

    /// Drops events up to and including `id`, once the gateway has them.
    public func dequeueEvents(through id: Int64) throws {
        try database.write { db in try db.execute(sql: "DELETE FROM event WHERE id <= ?", arguments: [id]) }
    }

    // MARK: health

    public func saveHealth(_ verdict: HealthVerdict, of target: Target, at time: Date) throws {
        try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO health_report (slot, target, passed, summary, json, time) VALUES (1, ?, ?, ?, ?, ?)",
                           arguments: [target.name, verdict.passed, verdict.summary, verdict.reportJSON, time.timeIntervalSince1970])
        }
    }

    public func lastHealth() throws -> HealthRecord? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM health_report WHERE slot = 1").map {
                HealthRecord(target: $0["target"], passed: $0["passed"], summary: $0["summary"], reportJSON: $0["json"],
                             time: Date(timeIntervalSince1970: $0["time"]))
            }
        }
    }
}

private func encode<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .secondsSince1970
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .secondsSince1970
    do {
        return try decoder.decode(type, from: Data(text.utf8))
    } catch {
        throw UpdaterError("the state database holds an unreadable \(type) record (\(error)); run `otter status` and, if it persists, move the database aside")
    }
}

/// An updater failure, with what failed and what to do.
public struct UpdaterError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
