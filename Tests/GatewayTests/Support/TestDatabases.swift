import Factory
import Foundation
import Gateway
import TUF

/// A fresh, empty factory database on either engine. PostgreSQL comes from the server
/// `scripts/test` starts (its URL in OTTER_TEST_POSTGRES_URL): each call creates its own
/// database on it. Without the variable the PostgreSQL cases fail with a message saying so.
enum TestDatabases {
    static let variable = "OTTER_TEST_POSTGRES_URL"
    static let engines: [DatabaseKind] = [.sqlite, .postgres]

    static var postgresURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment[variable], !url.isEmpty else {
                throw FixtureError("\(variable) is not set: the PostgreSQL engine's tests need a server; run them through scripts/test (it starts one on 127.0.0.1), or export \(variable)=postgres://postgres@127.0.0.1:PORT/postgres")
            }
            return url
        }
    }

    /// A URL for a new empty database on the test server.
    static func newPostgresDatabase() async throws -> String {
        let base = try postgresURL
        let name = "otter_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin = try await PostgresEngine(url: base, schema: [])
        try await admin.execute("CREATE DATABASE \(name)")
        await admin.close()
        guard let slash = base.lastIndex(of: "/") else { throw FixtureError("\(base) has no database path") }
        return base[..<slash] + "/" + name
    }

    static func open(_ kind: DatabaseKind) async throws -> FactoryDatabase {
        switch kind {
        case .sqlite: try FactoryDatabase(path: NSTemporaryDirectory() + "factory-\(UUID().uuidString).db")
        case .postgres: try await FactoryDatabase.open(try await newPostgresDatabase(), factory: nil)
        }
    }

    /// The location string `--database` takes for a new database of `kind` (nil: the factory's SQLite file).
    static func location(_ kind: DatabaseKind) async throws -> String? {
        kind == .postgres ? try await newPostgresDatabase() : nil
    }
}

/// A factory directory made in-process (keys, CI repository) with one CI Target per version.
struct FactoryFixture {
    let directory: FactoryDirectory
    let path: String

    init(versions: [String] = ["2"], hwid: String = "qemu-x86", tag: String = "main") async throws {
        path = NSTemporaryDirectory() + "otter-waves-\(UUID().uuidString)"
        directory = try await FactoryDirectory.create(at: path, name: "acme")
        let ci = try directory.ciRepository()
        for (index, version) in versions.enumerated() {
            try ci.add(TargetSpec(version: version, hardwareIds: [hwid], tags: [tag],
                                  osCommit: String(repeating: String(format: "%02x", index + 1), count: 32)))
        }
    }

    func offlineKey(_ name: String = "offline") throws -> (key: TUFSigningKey, path: String) {
        let key = try TUFSigningKey.generate(.ed25519)
        let file = path + "/\(name)-\(UUID().uuidString.prefix(6)).key"
        try (try key.privateText + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return (key, file)
    }
}
