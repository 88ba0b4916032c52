import Factory
import Foundation
import Gateway
import Testing

/// Wave rollouts on a simulated fleet of 100,000 devices (generated rows with last-seen times
/// and groups), on SQLite and on PostgreSQL.
@Suite(.serialized) struct WaveSelectionTests {
    static let fleetSize = 100_000

    /// A factory with CI Target 2, the production repository of `main`, wave `w1` of version 2,
    /// and a fleet: device `dev-<i>` is a test device when i % 20 == 0, in group `g<i % 10>`,
    /// last seen at 1,000,000 + (i × 7919 mod size) (distinct times), running Target 1.
    static func fleet(_ kind: DatabaseKind, size: Int = fleetSize) async throws -> (WaveStore, FactoryDatabase) {
        let factory = try await FactoryFixture(versions: ["1", "2"])
        let database = try await TestDatabases.open(kind)
        let offline = try factory.offlineKey()
        try await ProductionRepository(database: database, factory: factory.directory).create(tag: "main", offline: offline.key)
        for group in 0..<10 { try await database.createGroup("g\(group)", at: 1) }
        try await database.engine.execute("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO devices(uuid, name, pubkey, is_prod, group_name, created_at, last_seen, tags, target_name)
        SELECT 'dev-' || i, 'dev-' || i, 'key', CASE WHEN i % 20 = 0 THEN 0 ELSE 1 END, 'g' || (i % 10), 0,
          1000000 + ((i * 7919) % ?), 'main', 'qemu-x86-lmp-1' FROM n
        """, [size, size])
        // Rows written behind the factory's back: their tag rows too (what check-ins maintain).
        try await database.engine.execute("INSERT INTO device_tags(tag, device_uuid) SELECT 'main', uuid FROM devices")
        let store = WaveStore(database: database, factory: factory.directory)
        let request = try await store.signingRequest(name: "w1", version: "2", tag: "main", ci: try factory.directory.ciRepository().targets(),
                                                     ignoreWindows: false)
        try await store.create(name: "w1", version: "2", tag: "main", signed: try WaveStore.sign(request, with: offline.key),
                               ignoreWindows: false, at: 2_000_000)
        return (store, database)
    }

    /// Production devices of `main` not in wave `w1` and not on its Target, most recently seen first.
    static func candidates(_ database: FactoryDatabase) async throws -> [String] {
        try await database.engine.query("""
        SELECT uuid FROM devices d WHERE is_prod = 1 AND target_name <> 'qemu-x86-lmp-2'
          AND NOT EXISTS (SELECT 1 FROM wave_devices w WHERE w.wave = 'w1' AND w.device_uuid = d.uuid)
        ORDER BY last_seen DESC
        """).compactMap { $0.string("uuid") }
    }

    @Test(arguments: TestDatabases.engines)
    func limitedRolloutsSampleRecentDevicesOnceAndSkipUpdatedAndStagedOnes(_ kind: DatabaseKind) async throws {
        let (store, database) = try await Self.fleet(kind)
        // The 500 most recently seen production devices already run the wave's Target.
        try await database.engine.execute("""
        UPDATE devices SET target_name = 'qemu-x86-lmp-2' WHERE uuid IN (
          SELECT uuid FROM devices WHERE is_prod = 1 ORDER BY last_seen DESC LIMIT 500)
        """)
        let updated = Set(try await database.engine.query("SELECT uuid FROM devices WHERE target_name = 'qemu-x86-lmp-2'")
            .compactMap { $0.string("uuid") })
        #expect(updated.count == 500)

        let dryRun = try await store.rollout("w1", selection: .fleet, limit: 10_000, dryRun: true, at: 2_000_001)
        #expect(dryRun.devices.count == 10_000)
        #expect(try await database.engine.queryOne("SELECT count(*) AS n FROM wave_devices")?.int("n") == 0)

        var before = try await Self.candidates(database)
        let first = try await store.rollout("w1", selection: .fleet, limit: 10_000, dryRun: false, at: 2_000_001)
        #expect(first.devices.count == 10_000)
        #expect(Set(first.devices).count == 10_000)
        #expect(Set(first.devices).isDisjoint(with: updated))
        // Preference for recent contact: every chosen device is among the 20,000 most recently seen candidates.
        #expect(Set(first.devices).isSubset(of: Set(before.prefix(20_000))))
        #expect(first.devices.allSatisfy { Int($0.dropFirst(4))! % 20 != 0 })
        // Pseudo-random, not simply the newest 10,000.
        #expect(Set(first.devices) != Set(before.prefix(10_000)))

        before = try await Self.candidates(database)
        let second = try await store.rollout("w1", selection: .fleet, limit: 10_000, dryRun: false, at: 2_000_002)
        #expect(second.devices.count == 10_000)
        #expect(Set(second.devices).isDisjoint(with: Set(first.devices)))
        #expect(Set(second.devices).isSubset(of: Set(before.prefix(20_000))))
        #expect(second.number == 2)
        #expect(try await database.engine.queryOne("SELECT count(*) AS n FROM wave_devices")?.int("n") == 20_000)

        // The whole fleet has no cap: everyone left, once.
        let rest = try await store.rollout("w1", selection: .fleet, limit: nil, dryRun: false, at: 2_000_003)
        let production = Self.fleetSize - Self.fleetSize / 20
        #expect(rest.devices.count == production - 500 - 20_000)
        #expect(try await database.engine.queryOne("SELECT count(DISTINCT device_uuid) AS n FROM wave_devices")?.int("n")
            == production - 500)
        await database.close()
    }

    @Test(arguments: TestDatabases.engines)
    func groupRolloutsReachExactlyTheGroupAndUUIDListsAreCapped(_ kind: DatabaseKind) async throws {
        let (store, database) = try await Self.fleet(kind)
        let group = try await store.rollout("w1", selection: .group("g3"), limit: nil, dryRun: false, at: 2_000_001)
        let expected = (1...Self.fleetSize).filter { $0 % 10 == 3 && $0 % 20 != 0 }.map { "dev-\($0)" }
        #expect(Set(group.devices) == Set(expected))
        #expect(group.devices.count == expected.count)

        // Mixed separators, repeated and unknown UUIDs, and test devices (dev-20) fall out.
        let text = "dev-1,dev-2;dev-4 dev-5\ndev-6\t\tdev-7;;,\r\ndev-1 nope dev-20\n"
        #expect(WaveStore.parseUUIDs(text) == ["dev-1", "dev-2", "dev-4", "dev-5", "dev-6", "dev-7", "dev-1", "nope", "dev-20"])
        let listed = try await store.rollout("w1", selection: .uuids(WaveStore.parseUUIDs(text)), limit: nil, dryRun: false,
                                             at: 2_000_002)
        #expect(Set(listed.devices) == ["dev-1", "dev-2", "dev-4", "dev-5", "dev-6", "dev-7"])

        // --uuids with --limit samples from the list.
        let list = (100..<600).map { "dev-\($0)" }.filter { Int($0.dropFirst(4))! % 10 != 3 }
        let sample = try await store.rollout("w1", selection: .uuids(list), limit: 100, dryRun: false, at: 2_000_003)
        #expect(sample.devices.count == 100)
        #expect(Set(sample.devices).isSubset(of: Set(list)))

        let tooMany = (1...10_001).map { "dev-\($0)" }
        let listError = await #expect(throws: FactoryError.self) {
            try await store.rollout("w1", selection: .uuids(tooMany), limit: nil, dryRun: true, at: 2_000_004)
        }
        #expect(listError?.description.contains("10001 UUIDs given") == true)
        #expect(listError?.description.contains("at most 10000") == true)
        let limitError = await #expect(throws: FactoryError.self) {
            try await store.rollout("w1", selection: .fleet, limit: 10_001, dryRun: true, at: 2_000_004)
        }
        #expect(limitError?.description.contains("--limit 10001") == true)
        let exactly = try await store.rollout("w1", selection: .uuids(Array(tooMany.prefix(10_000))), limit: nil, dryRun: true,
                                              at: 2_000_004)
        #expect(!exactly.devices.isEmpty)
        await database.close()
    }

    /// Devices are chosen by the tags they report now (one `device_tags` row per tag, kept in
    /// step by check-ins and registration), not by the text of the list.
    @Test(arguments: TestDatabases.engines)
    func onlyDevicesOfTheWavesTagAreChosenAsTheirCheckInsChangeTheirTags(_ kind: DatabaseKind) async throws {
        let (store, database) = try await Self.fleet(kind, size: 200)
        func chosen() async throws -> Set<String> {
            Set(try await store.rollout("w1", selection: .fleet, limit: nil, dryRun: true, at: 2_000_001).devices)
        }
        let everyone = try await chosen()
        #expect(everyone.count == 190)
        func device(_ uuid: String) -> DeviceIdentity { DeviceIdentity(uuid: uuid, isProduction: true, publicKeyPEM: "key") }
        #expect(try await database.checkIn(device("dev-1"), state: .init(tags: "beta"), at: 3_000_000) == .known)
        #expect(try await database.checkIn(device("dev-2"), state: .init(tags: "beta, main"), at: 3_000_000) == .known)
        #expect(try await database.checkIn(device("dev-3"), state: .init(tags: "mainline"), at: 3_000_000) == .known)
        #expect(try await database.checkIn(device("new-1"), state: .init(tags: "main"), at: 3_000_000) == .created)
        #expect(try await database.checkIn(device("new-2"), state: .init(tags: "beta"), at: 3_000_000) == .created)
        try await database.registerDevice(device("new-3"), name: "n3", hardwareID: nil, group: "g1", tag: "main", at: 3_000_000)
        #expect(try await chosen() == everyone.subtracting(["dev-1", "dev-3"]).union(["new-1", "new-3"]))
        #expect(try await store.rollout("w1", selection: .group("g1"), limit: nil, dryRun: true, at: 2_000_001).devices.contains("new-3"))

        // Back and forth; a check-in without tags keeps them.
        #expect(try await database.checkIn(device("dev-1"), state: .init(tags: "main"), at: 3_000_001) == .known)
        #expect(try await database.checkIn(device("dev-2"), state: .init(tags: "beta"), at: 3_000_001) == .known)
        #expect(try await database.checkIn(device("dev-2"), state: .init(targetName: "qemu-x86-lmp-1"), at: 3_000_002) == .known)
        let now = try await chosen()
        #expect(now.contains("dev-1") && !now.contains("dev-2"))
        #expect(try await database.device("dev-2")?.tags == ["beta"])
        #expect(Set(try await database.devices(tag: "beta").map(\.uuid)) == ["dev-2", "new-2"])
        let rows = try await database.engine.query("SELECT tag FROM device_tags WHERE device_uuid = 'dev-2'").compactMap { $0.string("tag") }
        #expect(rows == ["beta"])
        await database.close()
    }

    /// The selection is one indexed query: printed plans, and the time of a 10,000 sample on
    /// 10k and 100k fleets (the plan walks the last-seen index instead of checking each device).
    @Test(arguments: TestDatabases.engines)
    func selectionWalksIndexesRatherThanTheFleet(_ kind: DatabaseKind) async throws {
        var times: [Int: Double] = [:]
        for size in [10_000, 100_000] {
            let (store, database) = try await Self.fleet(kind, size: size)
            if kind == .postgres { try await database.engine.execute("ANALYZE") }
            let wave = try #require(try await store.wave("w1"))
            let query = try WaveStore.selectionQuery(wave: wave, selection: .fleet, limit: 1000)
            let plan = try await database.engine.explain(query)
            print("\(kind) plan for a 1000-device sample of \(size):\n  " + plan.joined(separator: "\n  "))
            // Both engines walk the last-seen index and look tags up by key; neither reads every device.
            #expect(plan.contains { $0.contains("devices_by_seen") }, "\(plan)")
            #expect(!plan.contains { $0.contains("Seq Scan on devices") || $0.hasSuffix("SCAN d") }, "\(plan)")
            if kind == .sqlite {
                #expect(plan.contains { $0.contains("wave_devices") && $0.contains("PRIMARY KEY") || $0.contains("sqlite_autoindex_wave_devices") },
                        "\(plan)")
                #expect(plan.contains { $0.contains("sqlite_autoindex_device_tags") || $0.contains("device_tags") && $0.contains("PRIMARY KEY") },
                        "\(plan)")
            } else {
                #expect(plan.contains { $0.contains("Index") && $0.contains(" on device_tags") }, "\(plan)")
                #expect(!plan.contains { $0.contains("Seq Scan on device_tags") }, "\(plan)")
            }
            let group = try await database.engine.explain(try WaveStore.selectionQuery(wave: wave, selection: .group("g3"), limit: 100))
            #expect(group.contains { $0.contains("devices_by_group") }, "\(group)")
            #expect(!group.contains { $0.contains("Seq Scan on devices") || $0.hasSuffix("SCAN d") }, "\(group)")
            let start = Date()
            let rollout = try await store.rollout("w1", selection: .fleet, limit: 1000, dryRun: true, at: 2_000_001)
            times[size] = Date().timeIntervalSince(start)
            #expect(rollout.devices.count == 1000)
            await database.close()
        }
        print("\(kind): 1000-device sample on 10k devices \(times[10_000]!) s, on 100k devices \(times[100_000]!) s")
    }
}
