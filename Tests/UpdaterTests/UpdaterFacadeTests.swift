import Foundation
import Testing
@testable import Updater

/// The API the CLI verbs call: check, update, rollback, status.
@Suite struct UpdaterFacadeTests {
    let v1 = target(1, os: 1, apps: [app("web", 1)])
    let v2 = target(2, os: 2, apps: [app("web", 2)])
    let v3 = target(3, os: 2, apps: [app("web", 3)])
    let otherBoard = target(9, os: 9, apps: [], hardwareId: "other")

    func updater(_ rig: Rig, _ targets: [Target]) throws -> Updater {
        Updater(executor: rig.executor(), source: FixedTargets(files: try targetsMetadata(targets.map { ($0.name, entryJSON($0)) })),
                selection: TargetSelection(hardwareId: "otter-x86", tags: ["main"]))
    }

    @Test func checkListsThisDevicesTargetsNewestFirstWithTheirState() async throws {
        let rig = try Rig(current: v1)
        try rig.store.markBad(v3, reason: "health check failed: x", at: Date())
        let (listed, rejected) = try await updater(rig, [v1, v2, v3, otherBoard]).check()
        #expect(listed.map(\.target.version) == ["3", "2", "1"])
        #expect(listed.map(\.isCurrent) == [false, false, true])
        #expect(listed[0].bad?.reason == "health check failed: x")
        #expect(rejected.isEmpty)
    }

    @Test func updateTakesTheNewestGoodTargetAndStatusShowsThePendingReboot() async throws {
        let rig = try Rig(current: v1)
        try rig.store.markBad(v3, reason: "earlier", at: Date())
        let u = try updater(rig, [v1, v2, v3])
        #expect(try await u.update() == .rebootRequired(.reboot, rebooting: false))
        let status = try await u.status()
        #expect(status.current == v1)
        #expect(status.inFlight?.target == v2 && status.inFlight?.step == .reboot)
        #expect(status.bootFlags?.upgradeAvailable == true)
        #expect(status.defaultCommit == v2.osCommit && status.boot.bootedCommit == v1.osCommit)
        #expect(status.bad.map(\.name) == [v3.name])

        rig.device.powerCycle()
        #expect(try await updater(rig, [v1, v2, v3]).resumeAfterBoot() == .finished(.committed(v2)))
        let after = try await u.status()
        #expect(after.current == v2 && after.previous == v1 && after.inFlight == nil)
        #expect(after.lastHealth?.passed == true && after.lastHealth?.target == v2.name)
        #expect(try await u.update() == .alreadyCurrent(v2))
    }

    @Test func updateToAnExplicitVersionAndMilestones() async throws {
        let rig = try Rig(current: v2)
        let u = try updater(rig, [v1, v2, v3])
        #expect(try await u.update(until: .fetched) == .finished(.paused(before: .installApps)))
        #expect(try await u.status().inFlight?.paused == true)
        #expect(try await u.update(until: .installed) == .finished(.paused(before: .stopOldApps)))
        #expect(try await u.update() == .finished(.committed(v3)))
        let forced = await #expect(throws: TargetError.self) { try await u.update(version: "7") }
        #expect(forced?.description.contains("available: 3, 2, 1") == true)
    }

    @Test func rollbackThroughTheFacade() async throws {
        let rig = try Rig(current: v2)
        let u = try updater(rig, [v2, v3])
        #expect(try await u.update() == .finished(.committed(v3)))
        guard case .finished(.rolledBack(let bad, let to, _)) = try await u.rollback() else { Issue.record("no rollback"); return }
        #expect(bad == v3 && to == v2)
        #expect(try await u.update() == .alreadyCurrent(v2), "the rolled-back Target is bad now")
    }

    @Test func statusEncodesAsJSONForScriptsAndResultsReadAsOneLine() async throws {
        let rig = try Rig(current: v1)
        let u = try updater(rig, [v1, v2])
        let result = try await u.update()
        #expect(result.description == "the new OS is staged and the bootloader armed; reboot to continue (otter resumes by itself after the boot)")
        let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(try await u.status())) as! [String: Any]
        #expect((json["current"] as? [String: Any])?["version"] as? String == "1")
        #expect((json["inFlight"] as? [String: Any])?["step"] as? String == "reboot")
        #expect((json["bootFlags"] as? [String: Any])?["upgradeAvailable"] as? Bool == true)
        #expect(json["defaultCommit"] as? String == v2.osCommit)
    }

    @Test func forceWithoutAVersionTakesTheNewestEvenWhenBad() async throws {
        let rig = try Rig(current: v2)
        try rig.store.markBad(v3, reason: "earlier", at: Date())
        let u = try updater(rig, [v2, v3])
        #expect(try await u.update() == .alreadyCurrent(v2))
        #expect(try await u.update(force: true) == .finished(.committed(v3)))
        #expect(try rig.store.badTargets().isEmpty, "a forced Target that passes is good again")
    }
}
