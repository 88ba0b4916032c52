import FoundationEssentials

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
    let database: SQLiteConnection
    /// Held while an executor runs (file stores only).
    let updateLock: UpdateLock?

    private init(database: SQLiteConnection, lockPath: String?) throws {
        self.database = database
        self.updateLock = lockPath.map { UpdateLock(path: $0) }
        try Self.migrate(database)
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
        do {
            let database = try SQLiteConnection(path: path)
            try database.read { db in
                // A corrupt file fails here, at its first read.
                _ = try db.rows("PRAGMA journal_mode = WAL")
                // In WAL mode SQLite's NORMAL may lose the last commits at a power cut, while the
                // side effect recorded by them (a deployment, a bootloader write) survives: FULL
                // syncs each one.
                try db.execute("PRAGMA synchronous = FULL")
            }
            return try StateStore(database: database, lockPath: path + ".lock")
        } catch {
            throw UpdaterError("cannot open the state database \(path): \(error); check that its directory is writable and the file is not corrupt (move it aside to start from scratch)")
        }
    }

    /// A throw-away store for tests.
    public static func inMemory() throws -> StateStore {
        try StateStore(database: try SQLiteConnection(path: ":memory:"), lockPath: nil)
    }

    /// `journal_mode` as SQLite reports it ("wal" for a file store).
    public func journalMode() throws -> String {
        try database.read { try $0.firstRow("PRAGMA journal_mode")?.optionalText("journal_mode") ?? "" }
    }

    /// `synchronous` as SQLite reports it (2 = FULL for a file store).
    public func synchronousMode() throws -> Int {
        try database.read { Int(try $0.firstRow("PRAGMA synchronous")?.integer("synchronous") ?? -1) }
    }

    /// The schema, version 1 in `user_version`. Stores made by earlier Otter builds (GRDB's
    /// migrator, same tables, `user_version` 0) are taken as they are: the tables already exist.
    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS "target_slot" (
          "role" TEXT PRIMARY KEY CHECK (role IN ('current', 'previous')),
          "name" TEXT NOT NULL,
          "json" TEXT NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS "update_progress" (
          "slot" INTEGER PRIMARY KEY CHECK (slot = 1),
          "correlation_id" TEXT NOT NULL,
          "target" TEXT NOT NULL,
          "step" TEXT NOT NULL,
          "rolling_back" BOOLEAN NOT NULL,
          "json" TEXT NOT NULL,
          "updated_at" DOUBLE NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS "bad_target" (
          "name" TEXT PRIMARY KEY,
          "version" TEXT NOT NULL,
          "reason" TEXT NOT NULL,
          "marked_at" DOUBLE NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS "event" (
          "id" INTEGER PRIMARY KEY AUTOINCREMENT,
          "time" DOUBLE NOT NULL,
          "type" TEXT NOT NULL,
          "correlation_id" TEXT NOT NULL,
          "target" TEXT NOT NULL,
          "version" TEXT NOT NULL,
          "step" TEXT NOT NULL,
          "result" TEXT NOT NULL,
          "detail" TEXT)
        """,
        """
        CREATE TABLE IF NOT EXISTS "health_report" (
          "slot" INTEGER PRIMARY KEY CHECK (slot = 1),
          "target" TEXT NOT NULL,
          "passed" BOOLEAN NOT NULL,
          "summary" TEXT NOT NULL,
          "json" TEXT,
          "time" DOUBLE NOT NULL)
        """,
    ]

    private static func migrate(_ database: SQLiteConnection) throws {
        try database.write { db in
            guard try db.firstRow("PRAGMA user_version")?.integer("user_version") == 0 else { return }
            for statement in schema { try db.execute(statement) }
            try db.execute("PRAGMA user_version = 1")
        }
    }

    // MARK: Targets

    public func current() throws -> Target? { try slot("current") }
    public func previous() throws -> Target? { try slot("previous") }

    private func slot(_ role: String) throws -> Target? {
        try database.read { db in
            try db.firstRow("SELECT json FROM target_slot WHERE role = ?", [.text(role)])?.text("json")
        }.map { try decode(Target.self, $0) }
    }

    /// Records the Target a device runs without an update (provisioning, `otter` first run).
    public func setCurrent(_ target: Target?) throws {
        let json = try target.map(encode)
        try database.write { db in try Self.write(db, "current", target, json: json) }
    }

    private static func write(_ db: SQLiteConnection.Access, _ role: String, _ target: Target?, json: String?) throws {
        try db.execute("DELETE FROM target_slot WHERE role = ?", [.text(role)])
        if let target, let json {
            try db.execute("INSERT INTO target_slot (role, name, json) VALUES (?, ?, ?)",
                           [.text(role), .text(target.name), .text(json)])
        }
    }

    // MARK: the update in flight

    public func progress() throws -> UpdateProgress? {
        try database.read { db in
            try db.firstRow("SELECT json FROM update_progress WHERE slot = 1")?.text("json")
        }.map { try decode(UpdateProgress.self, $0) }
    }

    public func saveProgress(_ progress: UpdateProgress?, at time: Date) throws {
        let json = try progress.map(encode)
        try database.write { db in try Self.write(db, progress, json: json, at: time) }
    }

    private static func write(_ db: SQLiteConnection.Access, _ progress: UpdateProgress?, json: String?, at time: Date) throws {
        guard let progress, let json else {
            try db.execute("DELETE FROM update_progress")
            return
        }
        try db.execute("""
            INSERT OR REPLACE INTO update_progress (slot, correlation_id, target, step, rolling_back, json, updated_at)
            VALUES (1, ?, ?, ?, ?, ?, ?)
            """, [.text(progress.id), .text(progress.target.name), .text(progress.step.rawValue), SQLiteValue(progress.isRollingBack),
                  .text(json), .real(time.timeIntervalSince1970)])
    }

    /// The update passed: `target` is current, the Target it replaced is previous, it is no longer
    /// bad (a forced retry that worked), and nothing is in flight. Idempotent.
    public func commit(_ progress: UpdateProgress, at time: Date) throws {
        let targetJSON = try encode(progress.target)
        let fromJSON = try progress.from.map(encode)
        try database.write { db in
            try Self.write(db, "current", progress.target, json: targetJSON)
            if let from = progress.from, from != progress.target { try Self.write(db, "previous", from, json: fromJSON) }
            try db.execute("DELETE FROM bad_target WHERE name = ?", [.text(progress.target.name)])
            try Self.write(db, nil, json: nil, at: time)
        }
    }

    /// A rollback is complete. After a manual rollback of the current Target, the previous one
    /// becomes current (and nothing is previous); after a failed update, current never changed.
    /// Idempotent.
    public func finishRollback(_ progress: UpdateProgress, at time: Date) throws {
        let fromJSON = try progress.from.map(encode)
        try database.write { db in
            let current = try db.firstRow("SELECT name FROM target_slot WHERE role = 'current'")?.text("name")
            if current == progress.target.name {
                try Self.write(db, "current", progress.from, json: fromJSON)
                try Self.write(db, "previous", nil, json: nil)
            }
            try Self.write(db, nil, json: nil, at: time)
        }
    }

    // MARK: bad Targets

    public func markBad(_ target: Target, reason: String, at time: Date) throws {
        try database.write { db in
            try db.execute("INSERT OR REPLACE INTO bad_target (name, version, reason, marked_at) VALUES (?, ?, ?, ?)",
                           [.text(target.name), .text(target.version), .text(reason), .real(time.timeIntervalSince1970)])
        }
    }

    public func badTargets() throws -> [BadTarget] {
        try database.read { db in
            try db.rows("SELECT name, version, reason, marked_at FROM bad_target ORDER BY marked_at, name").map {
                BadTarget(name: try $0.text("name"), version: try $0.text("version"), reason: try $0.text("reason"),
                          markedAt: Date(timeIntervalSince1970: try $0.real("marked_at")))
            }
        }
    }

    // MARK: events queue

    public func enqueue(_ event: UpdateEvent) throws {
        try database.write { db in
            try db.execute("""
                INSERT INTO event (time, type, correlation_id, target, version, step, result, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.real(event.time.timeIntervalSince1970), .text("\(event.step).\(event.result.rawValue)"), .text(event.correlationID),
                      .text(event.target), .text(event.version), .text(event.step), .text(event.result.rawValue), SQLiteValue(event.detail)])
        }
    }

    /// Whether an event of this correlation ID waits in the queue.
    public func hasQueuedEvent(correlationID: String) throws -> Bool {
        try database.read { db in
            try db.firstRow("SELECT 1 AS found FROM event WHERE correlation_id = ? LIMIT 1", [.text(correlationID)]) != nil
        }
    }

    /// The oldest queued events first.
    public func queuedEvents(limit: Int = 100) throws -> [QueuedEvent] {
        try database.read { db in
            try db.rows("""
                SELECT id, time, correlation_id, target, version, step, result, detail FROM event ORDER BY id LIMIT ?
                """, [.integer(Int64(limit))]).map {
                QueuedEvent(id: try $0.integer("id"), event: UpdateEvent(
                    time: Date(timeIntervalSince1970: try $0.real("time")), correlationID: try $0.text("correlation_id"),
                    target: try $0.text("target"), version: try $0.text("version"), step: try $0.text("step"),
                    result: UpdateEvent.Result(rawValue: try $0.text("result")) ?? .failed, detail: $0.optionalText("detail")))
            }
        }
    }

    /// Drops events up to and including `id`, once the gateway has them.
    public func dequeueEvents(through id: Int64) throws {
        try database.write { db in try db.execute("DELETE FROM event WHERE id <= ?", [.integer(id)]) }
    }

    // MARK: health

    public func saveHealth(_ verdict: HealthVerdict, of target: Target, at time: Date) throws {
        try database.write { db in
            try db.execute("INSERT OR REPLACE INTO health_report (slot, target, passed, summary, json, time) VALUES (1, ?, ?, ?, ?, ?)",
                           [.text(target.name), SQLiteValue(verdict.passed), .text(verdict.summary), SQLiteValue(verdict.reportJSON),
                            .real(time.timeIntervalSince1970)])
        }
    }

    public func lastHealth() throws -> HealthRecord? {
        try database.read { db in
            try db.firstRow("SELECT target, passed, summary, json, time FROM health_report WHERE slot = 1").map {
                HealthRecord(target: try $0.text("target"), passed: try $0.boolean("passed"), summary: try $0.text("summary"),
                             reportJSON: $0.optionalText("json"), time: Date(timeIntervalSince1970: try $0.real("time")))
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
