import Foundation
import Factory
import Gateway
import Testing
import ConfigSyntax

/// The database layer on both engines (SQLite and PostgreSQL), and the schema checks.
@Suite struct FactoryDatabaseTests {
    @Test(arguments: TestDatabases.engines)
    func tokensExpireAndOnlyTheirHashIsStored(_ kind: DatabaseKind) async throws {
        let db = try await TestDatabases.open(kind)
        let now = 1_800_000_000.0
        let token = try await db.createToken(expiresAt: now + 86400, allowProduction: false, description: "line 3", at: now)
        #expect(try await db.useToken(token, at: now + 10)?.allowProduction == false)
        #expect(try await db.useToken(token, at: now + 86401) == nil)
        #expect(try await db.useToken(token + "x", at: now) == nil)
        let production = try await db.createToken(expiresAt: nil, allowProduction: true, description: nil, at: now)
        #expect(try await db.useToken(production, at: now + 1e9)?.allowProduction == true)
        let stored = try await db.engine.query("SELECT hash FROM tokens").compactMap { $0.string("hash") }
        #expect(stored.count == 2 && !stored.contains(token))
        if let sqlite = db.engine as? SQLiteEngine {
            let contents = try Data(contentsOf: URL(fileURLWithPath: sqlite.path))
            #expect(contents.range(of: Data(token.utf8)) == nil)
        }
        await db.close()
    }

    @Test(arguments: TestDatabases.engines)
    func reportsAndStatusRoundTrip(_ kind: DatabaseKind) async throws {
        let db = try await TestDatabases.open(kind)
        let a = DeviceIdentity(uuid: "dev-a", isProduction: true, publicKeyPEM: "key-1")
        #expect(try await db.checkIn(a, state: .init(tags: "main,beta", targetName: "t-1"), at: 5) == .created)
        try await db.registerDevice(DeviceIdentity(uuid: "dev-b", isProduction: false, publicKeyPEM: "k"), name: "bee", hardwareID: "hw",
                                    group: nil, tag: "main", at: 6)
        let events = try DeviceEvent.parseAll(Array(#"""
        [{"id":"1","deviceTime":"2026-12-01T10:00:00Z","eventType":{"id":"EcuInstallationCompleted","version":0},"event":{"correlationId":"t-1","success":true,"targetName":"t-1","version":"1"}},
         {"id":"2","deviceTime":"2026-12-01T10:01:00Z","eventType":{"id":"EcuInstallationCompleted","version":0},"event":{"correlationId":"t-2","success":false,"targetName":"t-2","version":"2","details":"health check failed; rolled back"}}]
        """#.utf8))
        #expect(try await db.record(events: events, for: "dev-a", at: 7) == 2)
        #expect(try await db.record(events: events, for: "dev-a", at: 8) == 0)
        #expect(try await db.events(for: "dev-a").map(\.id) == ["2", "1"])
        try await db.record(appsStates: AppsStates(deviceTime: "2026-12-01T10:00:00Z", ostree: "abc", appsJSON: "{}"), for: "dev-a", at: 9)
        #expect(try await db.appsStates(for: "dev-a")?.ostree == "abc")
        try await db.record(systemInfo: Array("{\"cpu\":1}".utf8), kind: "hardware", contentType: "application/json", for: "dev-a", at: 9)
        #expect(try await db.systemInfo(for: "dev-a") == ["hardware": "{\"cpu\":1}"])
        try await db.setConfig("{}", for: "dev-a", at: 10)
        #expect(try await db.config(for: "dev-a")?.updatedAt == 10)
        try await db.setSetting("factory.name", "acme")
        try await db.setSetting("factory.name", "acme2")
        #expect(try await db.setting("factory.name") == "acme2")
        let status = try await db.status()
        #expect(status.devices == 2)
        #expect(status.byTag == ["main": 2, "beta": 1])
        #expect(status.byTarget == ["t-1": 1, "unknown": 1])
        #expect(status.failed == 1 && status.rolledBack == 1)
        #expect(try await db.devices(tag: "beta").map(\.uuid) == ["dev-a"])
        await db.close()
    }

    @Test(arguments: TestDatabases.engines)
    func groupsAndWindowsReachTheDevice(_ kind: DatabaseKind) async throws {
        let db = try await TestDatabases.open(kind)
        _ = try await db.checkIn(DeviceIdentity(uuid: "dev-a", isProduction: true, publicKeyPEM: "k"), state: .init(), at: 1)
        _ = try await db.checkIn(DeviceIdentity(uuid: "dev-b", isProduction: true, publicKeyPEM: "k"), state: .init(), at: 1)
        #expect(try await db.effectiveWindows("dev-a") == nil)
        try await db.createGroup("night", at: 2)
        await #expect(throws: FactoryError.self) { try await db.createGroup("night", at: 2) }
        try await db.setGroupWindows("night", windows: ["Mon-Fri 02:00-04:00", "Sat,Sun  22:00-06:00"], at: 3)
        #expect(try await db.setGroup(["dev-a", "dev-b", "dev-x"], group: "night", at: 4) == ["dev-x"])
        #expect(try await db.effectiveWindows("dev-a")?.windows == ["Mon-Fri 02:00-04:00", "Sat,Sun 22:00-06:00"])
        try await db.setDeviceWindows("dev-b", windows: ["* 12:00-13:00"], at: 5)
        #expect(try await db.effectiveWindows("dev-b")?.windows == ["* 12:00-13:00"])
        #expect(try await db.effectiveWindows("dev-b")?.updatedAt == 5)
        try await db.setDeviceWindows("dev-b", windows: nil, at: 6)
        #expect(try await db.effectiveWindows("dev-b")?.windows == ["Mon-Fri 02:00-04:00", "Sat,Sun 22:00-06:00"])
        let bad = await #expect(throws: FactoryError.self) { try await db.setGroupWindows("night", windows: ["Mon-Fri 2:00-04:00"], at: 7) }
        #expect(bad?.description.contains("\"2:00\" is not a time between 00:00 and 24:00") == true)
        let groups = try await db.groups()
        #expect(groups.map(\.name) == ["night"] && groups.first?.devices == 2)
        #expect(groups.first?.windows == ["Mon-Fri 02:00-04:00", "Sat,Sun 22:00-06:00"])
        await #expect(throws: FactoryError.self) { try await db.deleteGroup("night") }
        try await db.createGroup("empty", at: 8)
        try await db.deleteGroup("empty")
        #expect(try await db.groups().map(\.name) == ["night"])
        #expect(try await db.devices(group: "night").count == 2)
        await db.close()
    }

    @Test func updateWindowsAreCheckedWithTheDeviceParserBeforeTheyAreStored() throws {
        #expect(try UpdateWindowConfig.validated(["Mon-Fri 02:00-04:00", "Sat,Sun 23:00-01:30", "* 00:00-24:00"])
            == ["Mon-Fri 02:00-04:00", "Sat,Sun 23:00-01:30", "* 00:00-24:00"])
        for bad in ["Mon-Fri", "Mon-Fri 02:00", "Mo 02:00-03:00", "Mon 24:00-01:00", "Mon 02:00-02:00", "Mon 2:00-03:00", "Mon,,Tue 01:00-02:00"] {
            #expect(throws: FactoryError.self, "\(bad)") { try UpdateWindowConfig.validated(["* 01:00-02:00", bad]) }
            // The device refuses the same text: the factory never hands out a window a device would reject.
            #expect(throws: UpdateWindowError.self, "\(bad)") { try UpdateWindow(parsing: bad) }
        }
        let message = try #require(throws: FactoryError.self) { try UpdateWindowConfig.validated(["Mon 2:00-03:00"]) }
        #expect(message.description.contains("\"2:00\" is not a time between 00:00 and 24:00"))
        #expect(UpdateWindowConfig.toml(["Mon-Fri 02:00-04:00", "* 12:00-13:00"])
            == "[update]\nwindows = [\"Mon-Fri 02:00-04:00\", \"* 12:00-13:00\"]\n")
    }

    @Test(arguments: TestDatabases.engines)
    func aUUIDKeepsTheKeyItWasFirstSeenWith(_ kind: DatabaseKind) async throws {
        let db = try await TestDatabases.open(kind)
        let a = DeviceIdentity(uuid: "dev-a", isProduction: false, publicKeyPEM: "key-1")
        #expect(try await db.checkIn(a, state: .init(tags: "main"), at: 1) == .created)
        #expect(try await db.checkIn(a, state: .init(targetName: "t1"), at: 2) == .known)
        var impostor = a
        impostor.publicKeyPEM = "key-2"
        #expect(try await db.checkIn(impostor, state: .init(targetName: "evil"), at: 3) == .keyMismatch)
        let record = try #require(try await db.device("dev-a"))
        #expect(record.tags == ["main"])
        #expect(record.targetName == "t1")
        #expect(record.lastSeen == 2)
        await db.close()
    }

    /// A database made before `device_tags` (and `--now` rollouts) existed: opening it adds
    /// them and fills the tag rows from the devices' tag lists.
    @Test(arguments: TestDatabases.engines)
    func openingAnOlderDatabaseFillsTheDeviceTagsFromTheTagLists(_ kind: DatabaseKind) async throws {
        let location = kind == .postgres ? try await TestDatabases.newPostgresDatabase()
            : NSTemporaryDirectory() + "factory-\(UUID().uuidString).db"
        let current = try await FactoryDatabase.open(location, factory: nil)
        // Back to the earlier schema, with devices in it.
        try await current.engine.execute([
            "DROP TABLE device_tags", "ALTER TABLE wave_rollouts DROP COLUMN ignore_windows",
            kind == .postgres ? "DELETE FROM settings WHERE key = 'schema.device_tags'"
                : "DELETE FROM grdb_migrations WHERE identifier = 'v3-device-tags'",
            "INSERT INTO devices(uuid, name, pubkey, is_prod, created_at, tags) VALUES ('a', 'a', 'k', 1, 0, 'main, beta')",
            "INSERT INTO devices(uuid, name, pubkey, is_prod, created_at, tags) VALUES ('b', 'b', 'k', 1, 0, 'beta,beta')",
            "INSERT INTO devices(uuid, name, pubkey, is_prod, created_at, tags) VALUES ('c', 'c', 'k', 1, 0, NULL)",
            "INSERT INTO devices(uuid, name, pubkey, is_prod, created_at, tags) VALUES ('d', 'd', 'k', 1, 0, ',')",
        ].map { SQLStatement($0) })
        await current.close()

        let reopened = try await FactoryDatabase.open(location, factory: nil)
        let rows = try await reopened.engine.query("SELECT device_uuid, tag FROM device_tags ORDER BY device_uuid, tag")
            .map { "\($0.string("device_uuid") ?? "?"):\($0.string("tag") ?? "?")" }
        #expect(rows == ["a:beta", "a:main", "b:beta"])
        #expect(try await reopened.devices(tag: "main").map(\.uuid) == ["a"])
        #expect(try await reopened.engine.queryOne("SELECT count(*) AS n FROM wave_rollouts WHERE ignore_windows = 0")?.int("n") == 0)
        // The fill runs once (opening stays cheap): a row written later behind the database's back stays untagged.
        try await reopened.engine.execute("INSERT INTO devices(uuid, name, pubkey, is_prod, created_at, tags) VALUES ('e', 'e', 'k', 1, 0, 'main')")
        await reopened.close()
        let again = try await FactoryDatabase.open(location, factory: nil)
        #expect(try await again.engine.queryOne("SELECT count(*) AS n FROM device_tags")?.int("n") == 3)
        await again.close()
    }

    @Test func eventsFollowTheAktualizrSchema() throws {
        let good = #"[{"id":"1","deviceTime":"2026-12-01T10:00:00Z","eventType":{"id":"EcuDownloadStarted","version":0},"event":{"correlationId":"t-1","ecu":"e","targetName":"t","version":"1"}}]"#
        let events = try DeviceEvent.parseAll(Array(good.utf8))
        #expect(events.map(\.type) == ["EcuDownloadStarted"])
        #expect(events.first?.ecu == "e")
        for bad in [
            "{}", "[1]", #"[{"id":"1"}]"#,
            good.replacingOccurrences(of: "EcuDownloadStarted", with: "Nope"),
            good.replacingOccurrences(of: "t-1", with: "t 1"),
            good.replacingOccurrences(of: "\"version\":0", with: "\"version\":\"0\""),
            good.replacingOccurrences(of: "10:00:00Z", with: "10:00:00"),
            good.replacingOccurrences(of: "\"ecu\"", with: "\"extra\":true,\"ecu\""),
        ] {
            #expect(throws: ReportError.self, "\(bad)") { try DeviceEvent.parseAll(Array(bad.utf8)) }
        }
    }

    @Test func appsStatesNeedADeviceTime() throws {
        #expect(throws: ReportError.self) { try AppsStates.parse(Array(#"{"apps":{}}"#.utf8)) }
        let states = try AppsStates.parse(Array(#"{"deviceTime":"2026-12-01T10:00:00+02:00","apps":{"a":{"state":"running"}}}"#.utf8))
        #expect(states.appsJSON == #"{"a":{"state":"running"}}"#)
    }
}
