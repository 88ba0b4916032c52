import Foundation
import Gateway
import Testing

/// The database and schema checks without a server.
@Suite struct FactoryDatabaseTests {
    func database() throws -> FactoryDatabase {
        try FactoryDatabase(path: NSTemporaryDirectory() + "factory-\(UUID().uuidString).db")
    }

    @Test func tokensExpireAndOnlyTheirHashIsStored() throws {
        let db = try database()
        let now = 1_800_000_000.0
        let token = try db.createToken(expiresAt: now + 86400, allowProduction: false, description: "line 3", at: now)
        #expect(try db.useToken(token, at: now + 10)?.allowProduction == false)
        #expect(try db.useToken(token, at: now + 86401) == nil)
        #expect(try db.useToken(token + "x", at: now) == nil)
        let contents = try Data(contentsOf: URL(fileURLWithPath: db.path))
        #expect(contents.range(of: Data(token.utf8)) == nil)
    }

    @Test func aUUIDKeepsTheKeyItWasFirstSeenWith() async throws {
        let db = try database()
        let a = DeviceIdentity(uuid: "dev-a", isProduction: false, publicKeyPEM: "key-1")
        #expect(try await db.checkIn(a, state: .init(tags: "main"), at: 1) == .created)
        #expect(try await db.checkIn(a, state: .init(targetName: "t1"), at: 2) == .known)
        var impostor = a
        impostor.publicKeyPEM = "key-2"
        #expect(try await db.checkIn(impostor, state: .init(targetName: "evil"), at: 3) == .keyMismatch)
        let record = try #require(try db.device("dev-a"))
        #expect(record.tags == ["main"])
        #expect(record.targetName == "t1")
        #expect(record.lastSeen == 2)
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
