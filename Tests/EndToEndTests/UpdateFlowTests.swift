import Foundation
import Testing
import TestSupport

/// Whole Targets (OS + app) from the factory to the device and back, on real components.
@Suite(.serialized) struct UpdateFlowTests {
    @Test func newOSAndAppCommitAfterTheBootAndAFailingTargetRollsBackBoth() async throws {
        let lab = try await DeviceLab()
        let os1 = try lab.publishOS("1"), os2 = try lab.publishOS("2"), os3 = try lab.publishOS("3")
        let web1 = try lab.publishApp("web", version: "1", body: "ok v1")
        let web2 = try lab.publishApp("web", version: "2", body: "ok v2")
        let web3 = try lab.publishApp("web", version: "3", body: "broken v3")

        // Target 1 onto a fresh device: staged, a reboot, then `otter health` commits.
        try lab.addTarget("1", os: os1, apps: ["web": web1])
        var run = try lab.otter(["update"])
        #expect(run.status == 100, "update to 1: \(run.err)")
        #expect(try await lab.reboot() == os1)
        run = try lab.otter(["health"])
        #expect(run.status == 0, "health 1: \(run.out) \(run.err)")
        #expect(try lab.currentVersion() == "1")
        #expect(lab.appPage() == "ok v1")

        // Target 2: new OS and new app version; the old app keeps serving until the reboot.
        try lab.addTarget("2", os: os2, apps: ["web": web2])
        let check = try lab.otter(["check", "--json"])
        let listed = try JSONSerialization.jsonObject(with: Data(check.out.utf8)) as? [[String: Any]]
        #expect(listed?.compactMap { $0["version"] as? String } == ["2", "1"])
        run = try lab.otter(["update"])
        #expect(run.status == 100, "update to 2: \(run.err)")
        #expect(lab.appPage() == "ok v1", "the running app is untouched before the reboot")
        #expect(try lab.status()["inFlight"] != nil)
        #expect(try await lab.reboot() == os2)
        run = try lab.otter(["health"])
        #expect(run.status == 0, "health 2: \(run.out) \(run.err)")
        #expect(try lab.currentVersion() == "2")
        #expect(lab.appPage() == "ok v2")
        let flags = try lab.status()["bootFlags"] as? [String: Any]
        #expect(flags?["upgradeAvailable"] as? Bool == false)
        #expect(try lab.deployments().count == 2, "v2 and the rollback v1")

        // `otter rollback` by hand goes back to Target 1 (OS 1 after a reboot, then app 1) and
        // marks 2 bad; `otter update --force 2` installs it again.
        run = try lab.otter(["rollback"])
        #expect(run.status == 100, "rollback needs the reboot into OS 1: \(run.out) \(run.err)")
        #expect(try await lab.reboot() == os1)
        run = try lab.otter(["health"])
        #expect(try lab.currentVersion() == "1", "\(run.out) \(run.err)")
        #expect(lab.appPage() == "ok v1")
        #expect(try lab.otter(["update"]).status == 0, "2 is bad now: nothing to install")
        #expect(try lab.currentVersion() == "1")
        run = try lab.otter(["update", "--force", "2"])
        #expect(run.status == 100, "forced: \(run.err)")
        #expect(try await lab.reboot() == os2)
        run = try lab.otter(["health"])
        #expect(run.status == 0, "\(run.out) \(run.err)")
        #expect(try lab.currentVersion() == "2")
        #expect(lab.appPage() == "ok v2")

        // Target 3: its app answers "broken", so the required check fails after the boot:
        // the previous OS is made default, and after the reboot the previous app is back.
        try lab.addTarget("3", os: os3, apps: ["web": web3])
        run = try lab.otter(["update"])
        #expect(run.status == 100, "update to 3: \(run.err)")
        #expect(try await lab.reboot() == os3)
        run = try lab.otter(["health"])
        #expect(run.status == 100, "health 3 fails and asks for the rollback reboot: \(run.out) \(run.err)")
        #expect(try await lab.reboot() == os2)
        run = try lab.otter(["health"])
        // A good boot of the previous Target: boot-complete.target and otter.service come up.
        #expect(run.status == 0, "the rollback finishes and says so: \(run.out) \(run.err)")
        #expect(run.out.contains("rolled back"))
        #expect(try lab.currentVersion() == "2")
        #expect(lab.appPage() == "ok v2")
        let status = try lab.status()
        #expect((status["bad"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["otter-lab-lmp-3"])
        #expect((status["lastHealth"] as? [String: Any])?["passed"] as? Bool == false)

        // A bad Target is not retried by itself.
        run = try lab.otter(["update"])
        #expect(run.status == 0, "\(run.err)")
        #expect(try lab.currentVersion() == "2")
        #expect(try lab.otter(["check"]).out.contains("! 3"))

        // Target 4 keeps OS 2 and changes only the app, to the broken one: no reboot, and the
        // failed health check puts app 2 back at once.
        try lab.addTarget("4", os: os2, apps: ["web": web3])
        run = try lab.otter(["update"])
        #expect(run.status == 1, "apps-only update fails its health check: \(run.out) \(run.err)")
        #expect(try lab.currentVersion() == "2")
        #expect(lab.appPage() == "ok v2")
        #expect(try lab.status()["inFlight"] == nil)
        #expect(try lab.deployments().count == 2, "no OS change for an apps-only Target")
    }
}
