import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value bound to a statement's `?` or read from a column.
enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    init(_ value: String?) { self = value.map(SQLiteValue.text) ?? .null }
    init(_ value: Bool) { self = .integer(value ? 1 : 0) }
    init(_ value: Int64) { self = .integer(value) }
    init(_ value: Double) { self = .real(value) }
}

/// A failed SQLite call: its result code, SQLite's message, and the statement it ran.
struct SQLiteError: Error, Sendable, CustomStringConvertible {
    var code: Int32
    var message: String
    var sql: String

    var description: String { "SQLite error \(code) (\(message)) in `\(sql)`" }
}

/// One row of a query, by column name.
struct SQLiteRow {
    let values: [String: SQLiteValue]
    let sql: String

    func text(_ column: String) throws(SQLiteError) -> String {
        guard let value = optionalText(column) else { throw missing(column, "text") }
        return value
    }

    func optionalText(_ column: String) -> String? {
        if case let .text(value) = values[column] { return value }
        return nil
    }

    func integer(_ column: String) throws(SQLiteError) -> Int64 {
        guard case let .integer(value) = values[column] else { throw missing(column, "an integer") }
        return value
    }

    func boolean(_ column: String) throws(SQLiteError) -> Bool { try integer(column) != 0 }

    /// REAL columns hold integral values as integers on disk; both read as a Double.
    func real(_ column: String) throws(SQLiteError) -> Double {
        switch values[column] {
        case let .real(value): return value
        case let .integer(value): return Double(value)
        default: throw missing(column, "a number")
        }
    }

    private func missing(_ column: String, _ kind: String) -> SQLiteError {
        SQLiteError(code: SQLITE_MISMATCH, message: "column \(column) is not \(kind): \(values[column].map { "\($0)" } ?? "absent")", sql: sql)
    }
}

/// One connection to an SQLite database, owning its handle and its prepared statements (kept
/// for reuse, by SQL text). Calls are serialized by a lock, so one connection serves every thread
/// of a process; other processes wait up to `busyTimeout` for a write lock (WAL lets readers go on).
final class SQLiteConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Guards `handle` and `statements`.
    private let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        return lock
    }()
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating) `path`; ":memory:" is a private in-memory database.
    init(path: String, busyTimeoutMilliseconds: Int32 = 10_000) throws(SQLiteError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_close(handle)
            throw SQLiteError(code: code, message: message, sql: "open \(path)")
        }
        self.handle = handle
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close(handle)
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body()
    }

    /// Runs `body` holding the connection, outside any transaction (each statement commits alone).
    func read<T>(_ body: (SQLiteConnection.Access) throws -> T) throws -> T {
        try locked { try body(Access(connection: self)) }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: committed when it returns, rolled back
    /// when it throws.
    func write<T>(_ body: (SQLiteConnection.Access) throws -> T) throws -> T {
        try locked {
            let access = Access(connection: self)
            try access.execute("BEGIN IMMEDIATE")
            do {
                let result = try body(access)
                try access.execute("COMMIT")
                return result
            } catch {
                try? access.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// The statements of one `read` or `write`, valid only inside it (the lock is held).
    struct Access {
        fileprivate let connection: SQLiteConnection

        func execute(_ sql: String, _ arguments: [SQLiteValue] = []) throws(SQLiteError) {
            try connection.run(sql, arguments) { _ in }
        }

        func rows(_ sql: String, _ arguments: [SQLiteValue] = []) throws(SQLiteError) -> [SQLiteRow] {
            var rows: [SQLiteRow] = []
            try connection.run(sql, arguments) { rows.append($0) }
            return rows
        }

        func firstRow(_ sql: String, _ arguments: [SQLiteValue] = []) throws(SQLiteError) -> SQLiteRow? {
            try rows(sql, arguments).first
        }
    }

    // MARK: statements (called with the lock held)

    private func run(_ sql: String, _ arguments: [SQLiteValue], row: (SQLiteRow) -> Void) throws(SQLiteError) {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, argument) in arguments.enumerated() {
            try check(bind(argument, to: statement, at: Int32(offset + 1)), sql)
        }
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw failure(code, sql) }
            row(SQLiteRow(values: columns(of: statement), sql: sql))
        }
    }

    private func prepared(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else { throw failure(code, sql) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ value: SQLiteValue, to statement: OpaquePointer, at index: Int32) -> Int32 {
        switch value {
        case .null: sqlite3_bind_null(statement, index)
        case let .integer(value): sqlite3_bind_int64(statement, index, value)
        case let .real(value): sqlite3_bind_double(statement, index, value)
        case let .text(value): csqlite_bind_text(statement, index, value, Int32(value.utf8.count))
        }
    }

    private func columns(of statement: OpaquePointer) -> [String: SQLiteValue] {
        var values: [String: SQLiteValue] = [:]
        for index in 0..<sqlite3_column_count(statement) {
            let name = String(cString: sqlite3_column_name(statement, index))
            switch sqlite3_column_type(statement, index) {
            case SQLITE_INTEGER: values[name] = .integer(sqlite3_column_int64(statement, index))
            case SQLITE_FLOAT: values[name] = .real(sqlite3_column_double(statement, index))
            case SQLITE_TEXT, SQLITE_BLOB:
                let count = Int(sqlite3_column_bytes(statement, index))
                let bytes = sqlite3_column_blob(statement, index)
                values[name] = .text(bytes.map {
                    String(decoding: UnsafeRawBufferPointer(start: $0, count: count), as: UTF8.self)
                } ?? "")
            default: values[name] = .null
            }
        }
        return values
    }

    private func check(_ code: Int32, _ sql: String) throws(SQLiteError) {
        guard code == SQLITE_OK else { throw failure(code, sql) }
    }

    private func failure(_ code: Int32, _ sql: String) -> SQLiteError {
        SQLiteError(code: code, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}
