import Factory
import FoundationEssentials
import GRDB
import Logging
import NIOCore
import PostgresNIO

/// A value bound into or read from SQL. Booleans are stored as integers 0/1 on both engines.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

public protocol SQLBindable: Sendable { var sqlValue: SQLValue { get } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Array: SQLBindable where Element == UInt8 { public var sqlValue: SQLValue { .blob(self) } }
extension Optional: SQLBindable where Wrapped: SQLBindable { public var sqlValue: SQLValue { self?.sqlValue ?? .null } }

/// One result row, by column name.
public struct SQLRow: Sendable {
    public var values: [String: SQLValue]

    public func string(_ column: String) -> String? {
        switch values[column] {
        case .text(let text): text
        case .integer(let number): String(number)
        case .real(let number): String(number)
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        case .null, nil: nil
        }
    }

    public func int(_ column: String) -> Int? {
        switch values[column] {
        case .integer(let number): Int(number)
        case .real(let number): Int(number)
        case .text(let text): Int(text)
        default: nil
        }
    }

    public func double(_ column: String) -> Double? {
        switch values[column] {
        case .real(let number): number
        case .integer(let number): Double(number)
        case .text(let text): Double(text)
        default: nil
        }
    }

    public func bool(_ column: String) -> Bool? { int(column).map { $0 != 0 } }

    public func bytes(_ column: String) -> [UInt8]? {
        switch values[column] {
        case .blob(let bytes): bytes
        case .text(let text): Array(text.utf8)
        default: nil
        }
    }
}

/// One SQL statement with `?` placeholders (the PostgreSQL engine numbers them `$1…`).
public struct SQLStatement: Sendable {
    public var sql: String
    public var arguments: [SQLValue]
    public init(_ sql: String, _ arguments: [any SQLBindable] = []) {
        self.sql = sql
        self.arguments = arguments.map(\.sqlValue)
    }
}

public enum DatabaseKind: String, Sendable { case sqlite, postgres }

/// What the factory database needs from a SQL engine. The SQL the factory writes is the common
/// subset of SQLite ≥ 3.35 and PostgreSQL ≥ 12 (`ON CONFLICT`, `RETURNING`, window functions,
/// `WITH RECURSIVE`); only the schema differs per engine.
public protocol DatabaseEngine: Sendable {
    var kind: DatabaseKind { get }
    /// Runs statements that change data, all in one transaction.
    func execute(_ statements: [SQLStatement]) async throws
    /// Runs one statement and returns its rows (a write with `RETURNING` too).
    func query(_ statement: SQLStatement) async throws -> [SQLRow]
    /// The engine's plan for a query, one line per step (`EXPLAIN QUERY PLAN` / `EXPLAIN`).
    func explain(_ statement: SQLStatement) async throws -> [String]
    func close() async
}

extension DatabaseEngine {
    public func execute(_ sql: String, _ arguments: [any SQLBindable] = []) async throws {
        try await execute([SQLStatement(sql, arguments)])
    }

    public func query(_ sql: String, _ arguments: [any SQLBindable] = []) async throws -> [SQLRow] {
        try await query(SQLStatement(sql, arguments))
    }

    public func queryOne(_ sql: String, _ arguments: [any SQLBindable] = []) async throws -> SQLRow? {
        try await query(SQLStatement(sql, arguments)).first
    }
}

// MARK: - SQLite

/// The embedded engine: one SQLite file in WAL mode (GRDB).
public final class SQLiteEngine: DatabaseEngine {
    public var kind: DatabaseKind { .sqlite }
    let pool: DatabasePool
    public let path: String

    public init(path: String, migrator: DatabaseMigrator) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try migrator.migrate(pool)
        } catch {
            throw FactoryError("cannot open the factory database \(path): \(error)")
        }
    }

    public func execute(_ statements: [SQLStatement]) async throws {
        try await pool.write { db in
            for statement in statements {
                try db.execute(sql: statement.sql, arguments: Self.arguments(statement.arguments))
            }
        }
    }

    public func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        let convert: @Sendable (Database) throws -> [SQLRow] = { db in
            try Row.fetchAll(db, sql: statement.sql, arguments: Self.arguments(statement.arguments)).map(Self.row)
        }
        if Self.isRead(statement.sql) { return try await pool.read(convert) }
        return try await pool.write(convert)
    }

    public func explain(_ statement: SQLStatement) async throws -> [String] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + statement.sql, arguments: Self.arguments(statement.arguments))
                .map { ($0["detail"] as String?) ?? "" }
        }
    }

    public func close() async { try? pool.close() }

    static func isRead(_ sql: String) -> Bool {
        let head = sql.drop { $0 == " " || $0 == "\n" }.prefix(6).uppercased()
        return head == "SELECT" || (head.hasPrefix("WITH") && !sql.uppercased().contains("INSERT"))
    }

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
            switch value {
            case .null: nil
            case .integer(let number): number
            case .real(let number): number
            case .text(let text): text
            case .blob(let bytes): Data(bytes)
            }
        })
    }

    static func row(_ row: Row) -> SQLRow {
        var values: [String: SQLValue] = [:]
        for (column, value) in row {
            switch value.storage {
            case .null: values[column] = .null
            case .int64(let number): values[column] = .integer(number)
            case .double(let number): values[column] = .real(number)
            case .string(let text): values[column] = .text(text)
            case .blob(let data): values[column] = .blob(Array(data))
            }
        }
        return SQLRow(values: values)
    }
}

// MARK: - PostgreSQL

/// The shared engine: a PostgreSQL server (postgres-nio connection pool), so several gateways
/// can serve one fleet. `postgres://user[:password]@host[:port]/database`.
public final class PostgresEngine: DatabaseEngine {
    public var kind: DatabaseKind { .postgres }
    let client: PostgresClient
    let runner: Task<Void, Never>
    public let url: String

    public init(url: String, schema: [String]) async throws {
        self.url = url
        let configuration = try Self.configuration(url)
        var logger = Logger(label: "otter-factory.postgres")
        logger.logLevel = .error
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let client = client
        runner = Task { await client.run() }
        do {
            try await execute(schema.map { SQLStatement($0) })
        } catch {
            runner.cancel()
            throw FactoryError("cannot open the factory database \(Self.redacted(url)): \(String(reflecting: error)); is the PostgreSQL server running and the database created?")
        }
    }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        let usage = "give postgres://user[:password]@host[:port]/database"
        guard let scheme = url.range(of: "://"), url.hasPrefix("postgres") else {
            throw FactoryError("\(url) is not a PostgreSQL URL; \(usage)")
        }
        var rest = String(url[scheme.upperBound...])
        var user = "postgres"
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                user = String(credentials)
            }
            rest = String(rest[rest.index(after: at)...])
        }
        var database: String?
        if let slash = rest.firstIndex(of: "/") {
            database = String(rest[rest.index(after: slash)...].prefix { $0 != "?" })
            rest = String(rest[..<slash])
        }
        var host = rest
        var port = 5432
        if let colon = rest.lastIndex(of: ":") {
            guard let number = Int(rest[rest.index(after: colon)...]) else { throw FactoryError("\(url): bad port; \(usage)") }
            port = number
            host = String(rest[..<colon])
        }
        guard !host.isEmpty else { throw FactoryError("\(url) names no host; \(usage)") }
        return PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                            database: database?.isEmpty == false ? database : nil, tls: .disable)
    }

    /// `?` placeholders as `$1, $2…` (the factory's SQL has no `?` inside literals).
    static func numbered(_ statement: SQLStatement) throws -> PostgresQuery {
        var sql = ""
        var index = 0
        for character in statement.sql {
            if character == "?" {
                index += 1
                sql += "$\(index)"
            } else {
                sql.append(character)
            }
        }
        var binds = PostgresBindings(capacity: statement.arguments.count)
        for value in statement.arguments {
            switch value {
            case .null: binds.appendNull()
            case .integer(let number): try binds.append(number)
            case .real(let number): try binds.append(number)
            case .text(let text): try binds.append(text)
            case .blob(let bytes): try binds.append(ByteBuffer(bytes: bytes))
            }
        }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    public func execute(_ statements: [SQLStatement]) async throws {
        let queries = try statements.map(Self.numbered)
        if queries.count == 1 {
            try await client.query(queries[0])
            return
        }
        var logger = Logger(label: "otter-factory.postgres")
        logger.logLevel = .error
        try await client.withTransaction(logger: logger) { connection in
            for query in queries { try await connection.query(query, logger: logger) }
        }
    }

    public func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        let rows = try await client.query(try Self.numbered(statement))
        var result: [SQLRow] = []
        for try await row in rows {
            var values: [String: SQLValue] = [:]
            for cell in row { values[cell.columnName] = try Self.value(cell) }
            result.append(SQLRow(values: values))
        }
        return result
    }

    public func explain(_ statement: SQLStatement) async throws -> [String] {
        var explained = statement
        explained.sql = "EXPLAIN " + statement.sql
        return try await query(explained).compactMap { $0.string("QUERY PLAN") }
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int8: return .integer(try cell.decode(Int64.self))
        case .int4: return .integer(Int64(try cell.decode(Int32.self)))
        case .int2: return .integer(Int64(try cell.decode(Int16.self)))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .float8, .float4: return .real(try cell.decode(Double.self))
        case .bytea:
            var buffer = try cell.decode(ByteBuffer.self)
            return .blob(buffer.readBytes(length: buffer.readableBytes) ?? [])
        default: return .text(try cell.decode(String.self))
        }
    }

    public func close() async { runner.cancel() }
}
