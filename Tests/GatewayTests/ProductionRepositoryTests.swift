import Factory
import Foundation
@testable import Gateway
import TUF
import Testing
import Updater

/// Production TUF repositories and waves, checked by the device's own TUF client
/// (`TargetFeed`, as `otter` builds it) on the files the gateway would serve.
@Suite struct ProductionRepositoryTests {
    struct Setup {
        var factory: FactoryFixture
        var database: FactoryDatabase
        var production: ProductionRepository
        var waves: WaveStore
        var offline: TUFSigningKey
    }

    static func setup(_ kind: DatabaseKind) async throws -> Setup {
        let factory = try await FactoryFixture(versions: ["1", "2", "3"])
        let database = try await TestDatabases.open(kind)
        let offline = try factory.offlineKey().key
        let production = ProductionRepository(database: database, factory: factory.directory)
        try await production.create(tag: "main", offline: offline)
        return Setup(factory: factory, database: database, production: production,
                     waves: WaveStore(database: database, factory: factory.directory), offline: offline)
    }

    /// Writes what the gateway serves `uuid` (a production device of `main`) into a directory.
    static func served(_ setup: Setup, to uuid: String) async throws -> String {
        let directory = NSTemporaryDirectory() + "otter-served-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let names = Set(try await setup.database.engine.query(
            "SELECT name FROM tuf_documents WHERE repo = 'prod/main' OR repo LIKE 'wave/%'").compactMap { $0.string("name") })
        for name in names {
            if let bytes = try await setup.production.metadata(name, deviceUUID: uuid, tag: "main") {
                try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
            }
        }
        return directory
    }

    /// A device's TUF client with its own trusted directory, seeded with `root`.
    final class Device {
        let trusted = NSTemporaryDirectory() + "otter-device-\(UUID().uuidString)"
        let shipped: String
        let production: Bool
        init(root: String, production: Bool) throws {
            shipped = trusted + "-shipped"
            self.production = production
            try FileManager.default.createDirectory(atPath: shipped, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: root, toPath: shipped + "/root.json")
        }
        func targets(from directory: String) async throws -> [String] {
            try await TargetFeed(trustedDirectory: trusted, shippedRootDirectory: shipped, metadataURL: "file://" + directory,
                                 production: production).refresh().map(\.path).sorted()
        }
    }

    @Test(arguments: TestDatabases.engines)
    func productionAndTestDevicesEachRefuseTheOthersMetadata(_ kind: DatabaseKind) async throws {
        let setup = try await Self.setup(kind)
        let served = try await Self.served(setup, to: "prod-a")
        let ci = setup.factory.directory.ciRepositoryPath

        let productionDevice = try Device(root: served + "/1.root.json", production: true)
        #expect(try await productionDevice.targets(from: served) == [])
        // A gateway that serves the CI repository to a production device: refused by the device.
        let misled = try Device(root: ci + "/1.root.json", production: true)
        let refusal = await #expect(throws: TUFError.self) { try await misled.targets(from: ci) }
        #expect("\(refusal!)".contains("production device refuses"))

        let testDevice = try Device(root: ci + "/1.root.json", production: false)
        #expect(try await testDevice.targets(from: ci).contains("qemu-x86-lmp-2"))
        let confused = try Device(root: served + "/1.root.json", production: false)
        let testRefusal = await #expect(throws: TUFError.self) { try await confused.targets(from: served) }
        #expect("\(testRefusal!)".contains("test device refuses"))
        await setup.database.close()
    }

    @Test(arguments: TestDatabases.engines)
    func productionTargetsNeedTheOfflineSignature(_ kind: DatabaseKind) async throws {
        let setup = try await Self.setup(kind)
        let root = try await setup.production.root(tag: "main")
        let body = JSONObject(["_type": .string("targets"), "spec_version": .string("1.0.31"), "version": .integer(5),
                               "expires": .string("2099-01-01T00:00:00Z"), "targets": .object(JSONObject())])
        // Uploads signed by a key the root does not name, or unsigned, are refused by the server.
        let stranger = try TUFSigningKey.generate(.ed25519)
        for envelope in [try ProductionRepository.sign(targets: body, with: stranger),
                         JSONWriter.compact(.object(JSONObject(["signatures": .array([]), "signed": .object(body)])))] {
            let error = #expect(throws: FactoryError.self) { try setup.production.cosign(envelope, tag: "main", root: root) }
            #expect(error?.description.contains("lacks a valid offline signature") == true)
        }
        // A server that skips that check: the device's TUF client still refuses targets with
        // only the online signature (threshold 2).
        let onlineOnly = try setup.production.cosign(
            JSONWriter.compact(.object(JSONObject(["signatures": .array([]), "signed": .object(body)]))), tag: "main", root: nil)
        let device = try Device(root: try await Self.served(setup, to: "prod-a") + "/1.root.json", production: true)
        try await setup.database.engine.execute(try await setup.production.publishProduction(tag: "main", targets: onlineOnly))
        let refused = await #expect(throws: TUFError.self) { try await device.targets(from: try await Self.served(setup, to: "prod-a")) }
        #expect("\(refused!)".contains("threshold is 2"))
        await setup.database.close()
    }

    @Test(arguments: TestDatabases.engines)
    func aWaveReachesOnlyItsDevicesAndCompleteOrCancelPublishPresignedTargets(_ kind: DatabaseKind) async throws {
        let setup = try await Self.setup(kind)
        let ci = try setup.factory.directory.ciRepository().targets()
        for uuid in ["prod-a", "prod-b"] {
            _ = try await setup.database.checkIn(DeviceIdentity(uuid: uuid, isProduction: true, publicKeyPEM: uuid),
                                                 state: .init(tags: "main"), at: 10)
        }
        let a = try Device(root: try await Self.served(setup, to: "prod-a") + "/1.root.json", production: true)
        let b = try Device(root: try await Self.served(setup, to: "prod-b") + "/1.root.json", production: true)

        let request = try await setup.waves.signingRequest(name: "w2", version: "2", tag: "main", ci: ci, ignoreWindows: true)
        try await setup.waves.create(name: "w2", version: "2", tag: "main", signed: try WaveStore.sign(request, with: setup.offline),
                                     ignoreWindows: true, at: 20)
        let again = await #expect(throws: FactoryError.self) {
            _ = try await setup.waves.signingRequest(name: "w3", version: "3", tag: "main", ci: ci, ignoreWindows: false)
        }
        #expect(again?.description.contains("already has an active wave, w2") == true)

        #expect(try await setup.waves.rollout("w2", selection: .uuids(["prod-a"]), limit: nil, dryRun: false, at: 21).devices == ["prod-a"])
        #expect(try await a.targets(from: try await Self.served(setup, to: "prod-a")) == ["qemu-x86-lmp-2"])
        #expect(try await b.targets(from: try await Self.served(setup, to: "prod-b")) == [])
        // --now: the wave's Target tells devices to ignore their windows.
        let waveTargets = try #require(try await setup.production.metadata("targets.json", deviceUUID: "prod-a", tag: "main"))
        #expect(String(decoding: waveTargets, as: UTF8.self).contains("\"\(WaveStore.ignoreWindowsField)\":true"))

        try await setup.waves.finish("w2", complete: true, at: 30)
        #expect(try await a.targets(from: try await Self.served(setup, to: "prod-a")) == ["qemu-x86-lmp-2"])
        #expect(try await b.targets(from: try await Self.served(setup, to: "prod-b")) == ["qemu-x86-lmp-2"])
        let completedTargets = try #require(try await setup.production.metadata("targets.json", deviceUUID: "prod-b", tag: "main"))
        #expect(!String(decoding: completedTargets, as: UTF8.self).contains(WaveStore.ignoreWindowsField))
        for complete in [true, false] {
            let twice = await #expect(throws: FactoryError.self) { try await setup.waves.finish("w2", complete: complete, at: 31) }
            #expect(twice?.description.contains("already complete") == true)
        }

        // A cancelled wave: its device drops the Target it had been offered, the other never sees it.
        let next = try await setup.waves.signingRequest(name: "w3", version: "3", tag: "main", ci: ci, ignoreWindows: false)
        try await setup.waves.create(name: "w3", version: "3", tag: "main", signed: try WaveStore.sign(next, with: setup.offline),
                                     ignoreWindows: false, at: 40)
        _ = try await setup.waves.rollout("w3", selection: .uuids(["prod-a"]), limit: nil, dryRun: false, at: 41)
        #expect(try await a.targets(from: try await Self.served(setup, to: "prod-a")) == ["qemu-x86-lmp-3"])  // a wave holds only its Target
        try await setup.waves.finish("w3", complete: false, at: 42)
        #expect(try await a.targets(from: try await Self.served(setup, to: "prod-a")) == ["qemu-x86-lmp-2"])
        #expect(try await b.targets(from: try await Self.served(setup, to: "prod-b")) == ["qemu-x86-lmp-2"])
        let cancelledTwice = await #expect(throws: FactoryError.self) { try await setup.waves.finish("w3", complete: false, at: 43) }
        #expect(cancelledTwice?.description.contains("already cancelled") == true)
        #expect(try await setup.waves.waves().map(\.state) == ["complete", "cancelled"])
        await setup.database.close()
    }

    @Test(arguments: TestDatabases.engines)
    func rotatingTheOfflineKeyIsANewRootVersionDevicesFollow(_ kind: DatabaseKind) async throws {
        let setup = try await Self.setup(kind)
        let ci = try setup.factory.directory.ciRepository().targets()
        let device = try Device(root: try await Self.served(setup, to: "prod-a") + "/1.root.json", production: true)
        #expect(try await device.targets(from: try await Self.served(setup, to: "prod-a")) == [])

        let newKey = try TUFSigningKey.generate(.ed25519)
        #expect(try await setup.production.rotateOfflineKey(tag: "main", newKey: newKey) == 2)
        #expect(try await device.targets(from: try await Self.served(setup, to: "prod-a")) == [])
        let trustedRoot = try JSONParser().parse(Array(try Data(contentsOf: URL(fileURLWithPath: device.trusted + "/root.json"))))
        #expect(trustedRoot["signed"]?["version"]?.integerValue == 2)

        // The old offline key no longer signs production metadata; the new one does.
        let request = try await setup.waves.signingRequest(name: "w1", version: "2", tag: "main", ci: ci, ignoreWindows: false)
        let stale = await #expect(throws: FactoryError.self) {
            try await setup.waves.create(name: "w1", version: "2", tag: "main", signed: try WaveStore.sign(request, with: setup.offline),
                                         ignoreWindows: false, at: 10)
        }
        #expect(stale?.description.contains("offline signature") == true)
        try await setup.waves.create(name: "w1", version: "2", tag: "main", signed: try WaveStore.sign(request, with: newKey),
                                     ignoreWindows: false, at: 10)
        _ = try await setup.waves.rollout("w1", selection: .uuids(["prod-a"]), limit: nil, dryRun: true, at: 11)
        await setup.database.close()
    }
}
