import Bootloader
import Foundation
import Testing
@testable import Updater

/// The executor over a fake device: every path end to end, with the state database in memory.
@Suite struct ExecutorTests {
    let v1 = target(1, os: 1, apps: [app("web", 1), app("db", 1)])
    let v2os = target(2, os: 2, apps: [app("web", 2), app("db", 1), app("mqtt", 1)])
    let v2apps = target(2, os: 1, apps: [app("web", 2), app("mqtt", 1)])

    @Test func appsOnlyUpdateSwapsAppsWithoutTouchingOSOrBootloader() async throws {
        let rig = try Rig(current: v1)
        let result = try await rig.executor().apply(v2apps)
        #expect(result == .finished(.committed(v2apps)))
        try await rig.expectRuns(v2apps)
        #expect(try rig.store.previous() == v1)
        #expect(rig.device.env["upgrade_available"] == nil, "apps-only never arms the bootloader")
        #expect(!rig.device.log.contains("arm") && !rig.device.log.contains("mark-successful"))
        #expect(try rig.store.lastHealth()?.passed == true)
    }

    @Test func newOSUpdateStagesArmsRebootsAndCommitsAfterHealth() async throws {
        let rig = try Rig(current: v1)
        let first = try await rig.executor().apply(v2os)
        #expect(first == .rebootRequired(.reboot, rebooting: false))
        #expect(rig.device.deployments == [v2os.osCommit, v1.osCommit])
        #expect(rig.device.env["upgrade_available"] == "1" && rig.device.env["bootcount"] == "0")
        #expect(rig.device.running == Set(v1.apps), "old apps keep running until the reboot")
        #expect(try rig.store.progress()?.step == .reboot)

        // otter restarted before the reboot: it keeps waiting, changes nothing, reports nothing new.
        let queued = try rig.store.queuedEvents(limit: 1000).count
        #expect(try await rig.executor().resume() == .rebootRequired(.reboot, rebooting: false))
        #expect(try rig.store.queuedEvents(limit: 1000).count == queued)

        rig.device.powerCycle()
        #expect(rig.device.env["bootcount"] == "1")
        #expect(try await rig.executor().resume() == .finished(.committed(v2os)))
        try await rig.expectRuns(v2os)
        #expect(rig.device.env["bootcount"] == "0")
        #expect(try rig.store.previous() == v1)
        #expect(rig.device.deployments == [v2os.osCommit, v1.osCommit], "the rollback deployment is kept")
    }

    @Test func aPowerCutBeforeTheStagedDeploymentIsFinalizedStagesItAgain() async throws {
        let rig = try Rig(current: v1)
        #expect(try await rig.executor().apply(v2os) == .rebootRequired(.reboot, rebooting: false))
        rig.device.powerCycle(finalizing: false)
        #expect(rig.device.booted == v1.osCommit && rig.device.deployments == [v1.osCommit])
        #expect(rig.device.env["bootcount"] == "1", "the armed flags counted the boot of the old commit")

        #expect(try await rig.executor().resume() == .rebootRequired(.reboot, rebooting: false))
        #expect(rig.device.deployments == [v2os.osCommit, v1.osCommit])
        #expect(rig.device.env["upgrade_available"] == "1" && rig.device.env["bootcount"] == "0", "armed afresh")
        #expect(try !rig.isBad(v2os))
        let events = try rig.store.queuedEvents(limit: 1000)
        #expect(events.contains { $0.event.step == "stage-os" && $0.event.detail?.contains("lost before it was finalized") == true })

        rig.device.powerCycle()
        #expect(try await rig.executor().resume() == .finished(.committed(v2os)))
        try await rig.expectRuns(v2os)
    }

    @Test func aBootloaderThatBootsTheOldEntryWithoutCountingIsArmedAgainNotTakenForAFailedBoot() async throws {
        let rig = try Rig(current: v1)
        #expect(try await rig.executor().apply(v2os) == .rebootRequired(.reboot, rebooting: false))
        rig.device.staleBootloader(times: 1)
        rig.device.powerCycle()
        #expect(rig.device.booted == v1.osCommit && rig.device.deployments.first == v2os.osCommit)
        #expect(try await rig.executor().resume() == .rebootRequired(.reboot, rebooting: false))
        #expect(try !rig.isBad(v2os))
        #expect(rig.device.env["bootcount"] == "0", "armed afresh")
        let events = try rig.store.queuedEvents(limit: 1000)
        #expect(events.contains { $0.event.step == "arm-bootloader" && $0.event.detail?.contains("without trying the new one") == true })
        rig.device.powerCycle()
        #expect(try await rig.executor().resume() == .finished(.committed(v2os)))
    }

    @Test func aStagedDeploymentThatIsNeverFinalizedEndsOnTheOldTargetWithTheReason() async throws {
        let rig = try Rig(current: v1)
        var result = try await rig.executor().apply(v2os)
        for _ in 0..<5 {
            guard case .rebootRequired = result else { break }
            rig.device.powerCycle(finalizing: false)
            result = try await rig.executor().resume()
        }
        guard case .finished(.rolledBack(let bad, let to, let reason)) = result else { Issue.record("\(result)"); return }
        #expect(bad == v2os && to == v1)
        #expect(reason.contains("lost 4 times"), "\(reason)")
        try await rig.expectRuns(v1)
        #expect(rig.device.env["upgrade_available"] == "0" && rig.device.deployments == [v1.osCommit])
    }

    @Test func rebootsItselfWhenConfiguredTo() async throws {
        let rig = try Rig(current: v1)
        #expect(try await rig.executor(rebootAutomatically: true).apply(v2os) == .rebootRequired(.reboot, rebooting: true))
        #expect(rig.device.rebootRequests == 1)
    }

    @Test func healthFailureOnNewOSRebootsBackRestoresAppsAndMarksBad() async throws {
        let rig = try Rig(current: v1)
        rig.device.makeUnhealthy(v2os)
        try await rig.settle(try await rig.executor().apply(v2os))
        try await rig.expectRuns(v1)
        let bad = try rig.store.badTargets()
        #expect(bad.map(\.name) == [v2os.name])
        #expect(bad.first?.reason.contains("health check failed: required check 10-app-responds exited 1") == true)
        #expect(try rig.store.lastHealth()?.passed == false)
        #expect(rig.device.log.filter { $0 == "make-default" }.count == 1)
    }

    @Test func aKernelThatNeverBootsEndsOnTheOldTargetMarkedBad() async throws {
        let rig = try Rig(current: v1)
        rig.device.breakKernel(of: v2os.osCommit)
        #expect(try await rig.executor().apply(v2os) == .rebootRequired(.reboot, rebooting: false))
        rig.device.powerCycle()
        #expect(rig.device.booted == v1.osCommit && rig.device.env["rollback"] == "1", "U-Boot gave up after bootlimit")
        let result = try await rig.executor().resume()
        guard case .finished(.rolledBack(let bad, let to, let reason)) = result else { Issue.record("\(result)"); return }
        #expect(bad == v2os && to == v1)
        #expect(reason.contains("boot counter gave up"), "\(reason)")
        try await rig.expectRuns(v1)
        #expect(try rig.isBad(v2os))
        // The next boot stays on the old Target: the default was fixed, the flags cleared.
        rig.device.powerCycle()
        #expect(rig.device.booted == v1.osCommit)
    }

    @Test func appsOnlyHealthFailureRestoresThePreviousApps() async throws {
        let rig = try Rig(current: v1)
        rig.device.makeUnhealthy(v2apps)
        let result = try await rig.executor().apply(v2apps)
        guard case .finished(.rolledBack(let bad, _, _)) = result else { Issue.record("\(result)"); return }
        #expect(bad == v2apps)
        try await rig.expectRuns(v1)
    }

    @Test(arguments: ["fetch-apps", "pull"])
    func aFailedFetchChangesNothingAndIsNotMarkedBad(failing: String) async throws {
        let rig = try Rig(current: v1)
        rig.device.fail(failing)
        let result = try await rig.executor().apply(v2os)
        guard case .finished(.abandoned(let t, let reason)) = result else { Issue.record("\(result)"); return }
        #expect(t == v2os && reason.contains("injected failure: \(failing)"))
        try await rig.expectRuns(v1)
        #expect(try !rig.isBad(v2os))
    }

    @Test(arguments: ["install-apps", "stage", "arm", "start-apps", "stop-apps"])
    func aFailedStepRollsBackToTheOldTarget(failing: String) async throws {
        let rig = try Rig(current: v1)
        rig.device.fail(failing, times: 1)
        let first = try await rig.executor().apply(v2os)
        if failing == "start-apps" || failing == "stop-apps" {
            #expect(first == .rebootRequired(.reboot, rebooting: false))
            rig.device.powerCycle()
            let second = try await rig.executor().resume()
            #expect(second == .rebootRequired(.rollbackReboot, rebooting: false))
            try await rig.settle(second)
        } else {
            try await rig.settle(first)
        }
        try await rig.expectRuns(v1)
        #expect(try rig.isBad(v2os))
    }

    @Test func badTargetsAreRefusedUnlessForcedAndAForcedSuccessClearsTheMark() async throws {
        let rig = try Rig(current: v1)
        rig.device.makeUnhealthy(v2apps)
        _ = try await rig.executor().apply(v2apps)
        #expect(try rig.isBad(v2apps))
        let error = await #expect(throws: UpdaterError.self) { try await rig.executor().apply(v2apps) }
        #expect(error?.message.contains("--force 2") == true)

        let updater = Updater(executor: rig.executor(), source: FixedTargets(files: try targetsMetadata([(v2apps.name, entryJSON(v2apps))])),
                              selection: TargetSelection(hardwareId: "otter-x86", tags: ["main"]))
        #expect(try await updater.update() == .alreadyCurrent(v1), "the daemon does not retry a bad Target")
        let listed = try await updater.check().targets
        #expect(listed.count == 1 && listed[0].bad != nil && !listed[0].isCurrent)

        // A device where the Target was marked bad once but now passes.
        let fresh = try Rig(current: v1)
        try fresh.store.markBad(v2apps, reason: "earlier failure", at: Date())
        let forced = Updater(executor: fresh.executor(), source: updater.source, selection: updater.selection)
        #expect(try await forced.update(force: true, version: "2") == .finished(.committed(v2apps)))
        #expect(try !fresh.isBad(v2apps))
        try await fresh.expectRuns(v2apps)
    }

    @Test func manualRollbackReturnsToThePreviousTargetOSAndApps() async throws {
        let rig = try Rig(current: v1)
        try await rig.settle(try await rig.executor().apply(v2os))
        try await rig.expectRuns(v2os)

        let first = try await rig.executor().rollback()
        #expect(first == .rebootRequired(.rollbackReboot, rebooting: false))
        #expect(rig.device.deployments.first == v1.osCommit)
        let end = try await rig.settle(first)
        guard case .finished(.rolledBack(let bad, let to, _)) = end else { Issue.record("\(end)"); return }
        #expect(bad == v2os && to == v1)
        try await rig.expectRuns(v1)
        #expect(try rig.store.previous() == nil)
        #expect(try rig.isBad(v2os), "the daemon must not re-install what the operator rolled back")
        let again = await #expect(throws: UpdaterError.self) { try await rig.executor().rollback() }
        #expect(again?.message.contains("no previous Target") == true)
    }

    @Test func manualRollbackOfAnAppsOnlyUpdateNeedsNoReboot() async throws {
        let rig = try Rig(current: v1)
        _ = try await rig.executor().apply(v2apps)
        let end = try await rig.executor().rollback()
        guard case .finished(.rolledBack) = end else { Issue.record("\(end)"); return }
        try await rig.expectRuns(v1)
    }

    @Test func rollbackDuringAPendingRebootDropsTheNewDeployment() async throws {
        let rig = try Rig(current: v1)
        _ = try await rig.executor().apply(v2os)
        let end = try await rig.executor().rollback()
        guard case .finished(.rolledBack) = end else { Issue.record("\(end)"); return }
        try await rig.expectRuns(v1)
        rig.device.powerCycle()
        #expect(rig.device.booted == v1.osCommit)
    }

    @Test func fetchThenInstallThenStartPauseAndContinue() async throws {
        let rig = try Rig(current: v1)
        #expect(try await rig.executor().apply(v2apps, pauseBefore: UpdateMilestone.fetched.pauseBefore) == .finished(.paused(before: .installApps)))
        #expect(try await rig.executor().resume() == .finished(.paused(before: .installApps)), "a restart does not install what was only fetched")
        #expect(rig.device.running == Set(v1.apps))
        #expect(try await rig.executor().proceed(pauseBefore: UpdateMilestone.installed.pauseBefore) == .finished(.paused(before: .stopOldApps)))
        #expect(try await rig.executor().proceed() == .finished(.committed(v2apps)))
        try await rig.expectRuns(v2apps)
    }

    @Test func everyStepIsQueuedAsAnEventWithOneCorrelationID() async throws {
        let rig = try Rig(current: v1)
        _ = try await rig.executor().apply(v2apps)
        let queued = try rig.store.queuedEvents(limit: 1000)
        #expect(Set(queued.map(\.event.correlationID)).count == 1)
        #expect(queued.first?.event.correlationID.hasPrefix("2-") == true)
        let finished = queued.filter { $0.event.result == .succeeded }.map(\.event.step)
        #expect(finished == ["fetch", "install-apps", "stop-old-apps", "start-apps", "health", "commit", "update"])
        #expect(rig.reporter.events.count == queued.count)
        try rig.store.dequeueEvents(through: queued[3].id)
        #expect(try rig.store.queuedEvents(limit: 1000).count == queued.count - 4)
    }

    @Test func aSecondUpdateWhileOneIsInFlightIsRefused() async throws {
        let rig = try Rig(current: v1)
        _ = try await rig.executor().apply(v2os)
        let error = await #expect(throws: UpdaterError.self) { try await rig.executor().apply(v2apps) }
        #expect(error?.message.contains("in progress (step reboot)") == true)
    }
}

@Suite struct AppSetTests {
    @Test func onlyAppsLeavingTheTargetAreStoppedAndChangedOnesAreReplacedInPlace() async throws {
        let v1 = target(1, os: 1, apps: [app("web", 1), app("db", 1), app("legacy", 1)])
        let v2 = target(2, os: 1, apps: [app("web", 2), app("db", 1), app("mqtt", 1)])
        let p = UpdateProgress(id: "x", target: v2, from: v1, fromCommit: v1.osCommit, fromApps: v1.apps, kind: .appsOnly, startedAt: Date())
        #expect(p.appsToStopOnApply == [app("legacy", 1)])
        #expect(p.appsToStopOnRollback == [app("mqtt", 1)])

        let rig = try Rig(current: v1)
        #expect(try await rig.executor().apply(v2) == .finished(.committed(v2)))
        try await rig.expectRuns(v2)
    }
}

@Suite struct DamagedEnvironmentTests {
    /// Flags that cannot be read: what booted still decides, and the failure names the env.
    struct BrokenFlags: BootFlags {
        func arm() throws { throw FakeFailure(what: "env CRC mismatch in both copies") }
        func markSuccessful() throws { throw FakeFailure(what: "env CRC mismatch in both copies") }
        func disarm() throws {}
        func state() throws -> BootState { throw FakeFailure(what: "env CRC mismatch in both copies") }
    }

    @Test func anUnreadableEnvDoesNotHideTheBootAndArmingItFailsCleanly() async throws {
        let v1 = target(1, os: 1, apps: [app("web", 1)]), v2 = target(2, os: 2, apps: [app("web", 2)])
        let rig = try Rig(current: v1)
        let executor = UpdateExecutor(store: rig.store, os: rig.device, apps: rig.device, bootFlags: BrokenFlags(),
                                      health: rig.device, rebooter: rig.device)
        let boot = try await executor.observeBoot()
        #expect(boot.bootedCommit == v1.osCommit && boot.bootloaderFlags.contains("unreadable: injected failure"))
        let result = try await executor.apply(v2)
        guard case .finished(.rolledBack(_, _, let reason)) = result else { Issue.record("\(result)"); return }
        #expect(reason.contains("arm-bootloader failed: injected failure: env CRC mismatch"))
        #expect(rig.device.deployments.first == v1.osCommit, "the staged deployment gave way to the booted one")
    }
}
