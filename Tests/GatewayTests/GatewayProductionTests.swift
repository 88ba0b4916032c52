import Foundation
import Gateway
import OtterCrypto
import TestSupport
import Testing

/// The gateway over real mTLS (curl as the client) serving production and test devices, with
/// every step done by `otter-factory` commands, on both database engines.
@Suite(.serialized) struct GatewayProductionTests {
    @Test(arguments: TestDatabases.engines)
    func productionDevicesGetTheirTagsRepositoryOrWaveAndTestDevicesTheCIRepository(_ kind: DatabaseKind) async throws {
        let gateway = try GatewayFixture(database: try await TestDatabases.location(kind))
        let prodA = try gateway.device(production: true)
        let prodB = try gateway.device(production: true)
        let test = try gateway.device()
        let main = ["x-ats-tags": "main"]
        #expect(try gateway.curl("/repo/targets.json", as: prodA, headers: main).status == 404)

        let keyFile = gateway.dir + "/offline.key"
        let made = try runProcess(GatewayFixture.binary("otter-factory"), ["keys", "offline", "--out", keyFile])
        #expect(made.status == 0, "\(made.err)")
        for version in ["1", "2"] {
            try gateway.factoryCLI(["targets", "add", "--version", version, "--hwid", "qemu-x86", "--tag", "main",
                                    "--os", String(repeating: "0\(version)", count: 32)])
        }
        try gateway.factoryCLI(["production", "init", "main", "-k", keyFile])
        try gateway.factoryCLI(["waves", "init", "w1", "2", "main", "-k", keyFile, "--now"])
        let second = try runProcess(GatewayFixture.binary("otter-factory"),
                                    ["waves", "init", "w2", "1", "main", "-k", keyFile, "--factory", gateway.factory]
                                        + (gateway.database.map { ["--database", $0] } ?? []))
        #expect(second.status != 0 && second.err.contains("already has an active wave, w1"), "\(second.err)")

        // Devices exist once they have been seen; then the wave is rolled out to A only.
        for device in [prodA, prodB, test] { _ = try gateway.curl("/repo/timestamp.json", as: device, headers: main) }
        let uuidFile = gateway.dir + "/uuids"
        try "\(prodA.uuid);\n  nobody,\t\(test.uuid)\n".write(toFile: uuidFile, atomically: true, encoding: .utf8)
        let rollout = try gateway.factoryCLI(["waves", "rollout", "w1", "--uuids", "@" + uuidFile, "--print-uuids"])
        #expect(rollout.split(separator: "\n") == [Substring(prodA.uuid)])

        let waveTargets = try gateway.curl("/repo/targets.json", as: prodA, headers: main)
        #expect(waveTargets.status == 200)
        #expect(waveTargets.body.contains("qemu-x86-lmp-2") && !waveTargets.body.contains("qemu-x86-lmp-1"))
        #expect(waveTargets.body.contains("\"otter-ignore-windows\":true"))
        #expect(waveTargets.headers["x-ats-role-checksum"] == Hex.encode(Digest.sha256(Array(waveTargets.body.utf8))))
        let signatures = try #require((try gateway.json(waveTargets.body) as? [String: Any])?["signatures"] as? [Any])
        #expect(signatures.count == 2)
        let prodTargets = try gateway.curl("/repo/targets.json", as: prodB, headers: main)
        #expect(prodTargets.status == 200 && !prodTargets.body.contains("qemu-x86-lmp"))
        let ciTargets = try gateway.curl("/repo/targets.json", as: test, headers: main)
        #expect(ciTargets.body == (try String(contentsOfFile: gateway.factory + "/tuf/ci/targets.json", encoding: .utf8)))
        let root = try gateway.curl("/repo/1.root.json", as: prodA, headers: main)
        #expect(root.status == 200 && root.body.contains("\"threshold\":2"))

        let status = try gateway.json(try gateway.factoryCLI(["waves", "status", "w1", "--json"])) as? [String: Any]
        let total = try #require(status?["total"] as? [String: Any])
        #expect(total["rolledOut"] as? Int == 1 && total["updated"] as? Int == 0 && total["notYetSeen"] as? Int == 1)

        try gateway.factoryCLI(["waves", "complete", "w1"])
        #expect(try gateway.curl("/repo/targets.json", as: prodB, headers: main).body.contains("qemu-x86-lmp-2"))
        let list = try gateway.factoryCLI(["waves", "list"])
        #expect(list.contains("w1") && list.contains("complete"))

        // The admin API: the next wave is signed on "the operator's machine" (no --factory
        // needed for signing) and only its signed metadata is uploaded.
        let adminToken = try gateway.factoryCLI(["tokens", "admin"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let remote = ["waves", "init", "w2", "1", "main", "-k", keyFile, "--admin", gateway.registrationURL, "--admin-ca", gateway.rootCA]
        let otherKey = gateway.dir + "/other.key"
        _ = try runProcess(GatewayFixture.binary("otter-factory"), ["keys", "offline", "--out", otherKey])
        let wrongKey = try runProcess(GatewayFixture.binary("otter-factory"),
                                      ["waves", "init", "w2", "1", "main", "-k", otherKey, "--admin", gateway.registrationURL,
                                       "--admin-ca", gateway.rootCA, "--admin-token", adminToken])
        #expect(wrongKey.status != 0 && wrongKey.err.contains("lacks a valid offline signature"), "\(wrongKey.err)")
        let badToken = try runProcess(GatewayFixture.binary("otter-factory"), remote + ["--admin-token", "nope"])
        #expect(badToken.status != 0 && badToken.err.contains("HTTP 401"), "\(badToken.err)")
        let uploaded = try runProcess(GatewayFixture.binary("otter-factory"), remote + ["--admin-token", adminToken])
        #expect(uploaded.status == 0, "\(uploaded.err)")
        #expect(try gateway.factoryCLI(["waves", "list"]).contains("w2  version 1  tag main  active"))
        #expect(try gateway.curl("/admin/waves", as: nil, method: "POST", body: "{}", base: gateway.registrationURL).status == 401)

        // Update windows: the group's, a device's own overriding them, delivered in GET /config.
        try gateway.factoryCLI(["groups", "create", "night"])
        try gateway.factoryCLI(["groups", "set-windows", "night", "Mon-Fri 02:00-04:00", "Sat,Sun 22:00-06:00"])
        try gateway.factoryCLI(["devices", "set-group", prodA.uuid, prodB.uuid, "night"])
        try gateway.factoryCLI(["devices", "set-windows", prodB.uuid, "* 12:00-13:00"])
        let badWindow = try runProcess(GatewayFixture.binary("otter-factory"),
                                       ["groups", "set-windows", "night", "Mon-Fri 2-4", "--factory", gateway.factory]
                                           + (gateway.database.map { ["--database", $0] } ?? []))
        #expect(badWindow.status != 0 && badWindow.err.contains("\"2\" is not a time between 00:00 and 24:00"), "\(badWindow.err)")
        func windows(_ device: GatewayFixture.DeviceFiles) throws -> String? {
            let config = try gateway.curl("/config", as: device)
            let document = try gateway.json(config.body) as? [String: Any]
            let entry = document?["otter-update-windows.toml"] as? [String: Any]
            #expect(entry?["Unencrypted"] as? Bool == true)
            return entry?["Value"] as? String
        }
        #expect(try windows(prodA) == "[update]\nwindows = [\"Mon-Fri 02:00-04:00\", \"Sat,Sun 22:00-06:00\"]\n")
        #expect(try windows(prodB) == "[update]\nwindows = [\"* 12:00-13:00\"]\n")
        #expect(try gateway.curl("/config", as: test).status == 204)
        let groups = try gateway.factoryCLI(["groups", "list"])
        #expect(groups.contains("night  2 device(s)"))
    }

    /// `waves rollout --now` (issue #11: "a wave rollout may say --now"): the rollout is marked
    /// in `waves status`, and while the wave is active the gateway sends its devices no update
    /// windows (so they install at once), while devices of the wave's other rollouts keep theirs.
    @Test(arguments: TestDatabases.engines)
    func aRolloutWithNowIsMarkedAndItsDevicesGetNoWindowsWhileTheWaveIsActive(_ kind: DatabaseKind) async throws {
        let gateway = try GatewayFixture(database: try await TestDatabases.location(kind))
        let plain = try gateway.device(production: true)
        let now = try gateway.device(production: true)
        let main = ["x-ats-tags": "main"]
        let keyFile = gateway.dir + "/offline.key"
        #expect(try runProcess(GatewayFixture.binary("otter-factory"), ["keys", "offline", "--out", keyFile]).status == 0)
        try gateway.factoryCLI(["targets", "add", "--version", "1", "--hwid", "qemu-x86", "--tag", "main", "--os", String(repeating: "01", count: 32)])
        try gateway.factoryCLI(["production", "init", "main", "-k", keyFile])
        for device in [plain, now] { _ = try gateway.curl("/repo/timestamp.json", as: device, headers: main) }
        try gateway.factoryCLI(["groups", "create", "night"])
        try gateway.factoryCLI(["groups", "set-windows", "night", "Mon-Fri 02:00-04:00"])
        try gateway.factoryCLI(["devices", "set-group", plain.uuid, now.uuid, "night"])
        func windows(_ device: GatewayFixture.DeviceFiles) throws -> String? {
            let config = try gateway.curl("/config", as: device)
            #expect(config.status == 200, "\(config.body)")
            return ((try gateway.json(config.body) as? [String: Any])?["otter-update-windows.toml"] as? [String: Any])?["Value"] as? String
        }

        try gateway.factoryCLI(["waves", "init", "w1", "1", "main", "-k", keyFile])
        let dry = try gateway.factoryCLI(["waves", "rollout", "w1", "--uuids", now.uuid, "--now", "--dry-run"])
        #expect(dry.contains("would roll wave w1 out to 1 device(s), ignoring update windows (dry run)"), "\(dry)")
        #expect(try windows(now) != nil, "a dry run changes nothing")
        #expect(try gateway.factoryCLI(["waves", "rollout", "w1", "--uuids", plain.uuid]).contains("rollout 1 of wave w1: 1 device(s)\n"))
        let rollout = try gateway.json(try gateway.factoryCLI(["waves", "rollout", "w1", "--uuids", now.uuid, "--now", "--json"])) as? [String: Any]
        #expect(rollout?["ignoresWindows"] as? Bool == true && rollout?["number"] as? Int == 2, "\(String(describing: rollout))")

        let status = try gateway.json(try gateway.factoryCLI(["waves", "status", "w1", "--json"])) as? [String: Any]
        #expect(status?["rolloutsIgnoringWindows"] as? [Int] == [2])
        #expect((status?["wave"] as? [String: Any])?["ignoreWindows"] as? Bool == false, "the wave itself was made without --now")
        let text = try gateway.factoryCLI(["waves", "status", "w1"])
        #expect(text.contains("rollout 2 (ignores update windows): rolled out 1") && text.contains("rollout 1: rolled out 1"), "\(text)")

        #expect(try windows(plain) == "[update]\nwindows = [\"Mon-Fri 02:00-04:00\"]\n")
        #expect(try windows(now) == nil, "no windows while the wave is active")
        // The wave's targets are the same for both: the mark is the gateway's, per rollout.
        #expect(try gateway.curl("/repo/targets.json", as: now, headers: main).body
            == (try gateway.curl("/repo/targets.json", as: plain, headers: main).body))

        try gateway.factoryCLI(["waves", "complete", "w1"])
        #expect(try windows(now) == "[update]\nwindows = [\"Mon-Fri 02:00-04:00\"]\n", "the group's windows again after the wave")
    }
}
