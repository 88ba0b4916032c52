import Foundation
import Testing
@testable import Updater

/// The coordinator without any I/O: events in, actions out.
@Suite struct StateMachineTests {
    let v1 = target(1, os: 1, apps: [app("web", 1)])
    let v2os = target(2, os: 2, apps: [app("web", 2)])
    let v2apps = target(2, os: 1, apps: [app("web", 2), app("mqtt", 1)])

    func progress(_ t: Target, kind: UpdateKind) -> UpdateProgress {
        UpdateProgress(id: "x", target: t, from: v1, fromCommit: v1.osCommit, fromApps: v1.apps, kind: kind, startedAt: Date())
    }

    /// The new-OS update to v2 recorded at `reboot`, asked for in boot `bootID`.
    func awaitingReboot(since bootID: String) -> UpdateProgress {
        var p = progress(v2os, kind: .newOS)
        p.step = .reboot
        p.rebootBootID = bootID
        return p
    }

    /// Runs every step to success and returns the steps performed.
    func drive(_ m: inout UpdateStateMachine, from action: UpdateStateMachine.Action) -> ([UpdateStep], UpdateStateMachine.Action) {
        var steps: [UpdateStep] = []
        var action = action
        while case .perform(let step) = action {
            steps.append(step)
            action = m.handle(.succeeded(step))
        }
        return (steps, action)
    }

    @Test func appsOnlyPathRunsEveryStepThenCommits() {
        var m = UpdateStateMachine(progress: nil, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        let (steps, end) = drive(&m, from: m.handle(.begin(progress(v2apps, kind: .appsOnly))))
        #expect(steps == [.fetch, .installApps, .stopOldApps, .startApps, .health, .commit])
        #expect(end == .finished(.committed(v2apps)))
        #expect(m.progress == nil)
    }

    @Test func newOSPathStopsForTheRebootAndGoesOnOnTheNewCommit() {
        var m = UpdateStateMachine(progress: nil, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        let (before, wait) = drive(&m, from: m.handle(.begin(progress(v2os, kind: .newOS))))
        #expect(before == [.fetch, .installApps, .stageOS, .armBootloader])
        #expect(wait == .awaitReboot(.reboot))
        #expect(m.progress?.step == .reboot && m.progress?.rebootBootID == "b1")

        // Restarted without a reboot: still waiting.
        var same = UpdateStateMachine(progress: m.progress, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        #expect(same.handle(.resumed) == .awaitReboot(.reboot))

        var booted = UpdateStateMachine(progress: m.progress, boot: BootObservation(bootedCommit: commit(2), bootID: "b2"))
        let (after, end) = drive(&booted, from: booted.handle(.resumed))
        #expect(after == [.stopOldApps, .startApps, .health, .commit])
        #expect(end == .finished(.committed(v2os)))
    }

    @Test(arguments: [UpdateStep.installApps, .stopOldApps, .startApps, .health, .commit])
    func appsOnlyFailureRestoresThePreviousApps(failing: UpdateStep) {
        var m = UpdateStateMachine(progress: nil, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        var action = m.handle(.begin(progress(v2apps, kind: .appsOnly)))
        while case .perform(let step) = action, step != failing { action = m.handle(.succeeded(step)) }
        #expect(action == .perform(failing))
        let (rollback, end) = drive(&m, from: m.handle(.failed(failing, reason: "boom")))
        #expect(rollback == [.markBad, .stopNewApps, .restoreApps, .finishRollback])
        #expect(end == .finished(.rolledBack(bad: v2apps, to: v1, reason: "\(failing.rawValue) failed: boom")))
    }

    @Test(arguments: [UpdateStep.installApps, .stageOS, .armBootloader])
    func newOSFailureBeforeTheRebootNeedsNoReboot(failing: UpdateStep) {
        var m = UpdateStateMachine(progress: nil, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        var action = m.handle(.begin(progress(v2os, kind: .newOS)))
        while case .perform(let step) = action, step != failing { action = m.handle(.succeeded(step)) }
        let (rollback, end) = drive(&m, from: m.handle(.failed(failing, reason: "boom")))
        #expect(rollback == [.markBad, .stopNewApps, .restoreOS, .disarmBootloader, .restoreApps, .finishRollback])
        #expect(end == .finished(.rolledBack(bad: v2os, to: v1, reason: "\(failing.rawValue) failed: boom")))
    }

    @Test(arguments: [UpdateStep.stopOldApps, .startApps, .health, .commit])
    func newOSFailureAfterTheRebootRebootsIntoThePreviousCommit(failing: UpdateStep) {
        var p = progress(v2os, kind: .newOS)
        p.step = .reboot
        p.rebootBootID = "b1"
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(2), bootID: "b2"))
        var action = m.handle(.resumed)
        while case .perform(let step) = action, step != failing { action = m.handle(.succeeded(step)) }
        let (rollback, wait) = drive(&m, from: m.handle(.failed(failing, reason: "boom")))
        #expect(rollback == [.markBad, .stopNewApps, .restoreOS, .disarmBootloader])
        #expect(wait == .awaitReboot(.rollbackReboot))
        var back = UpdateStateMachine(progress: m.progress, boot: BootObservation(bootedCommit: commit(1), bootID: "b3"))
        let (rest, end) = drive(&back, from: back.handle(.resumed))
        #expect(rest == [.restoreApps, .finishRollback])
        #expect(end == .finished(.rolledBack(bad: v2os, to: v1, reason: "\(failing.rawValue) failed: boom")))
    }

    @Test func fetchFailureAbandonsWithoutMarkingBad() {
        var m = UpdateStateMachine(progress: nil, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        _ = m.handle(.begin(progress(v2os, kind: .newOS)))
        #expect(m.handle(.failed(.fetch, reason: "timeout")) == .finished(.abandoned(v2os, reason: "fetch failed: timeout")))
        #expect(m.progress == nil)
    }

    @Test func bootingTheOldCommitWhilePendingRollsBackAndNamesTheBootCounter() {
        let p = awaitingReboot(since: "b1")
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b9", bootloaderFellBack: true,
                                                                      bootloaderFlags: "upgrade_available=0 bootcount=4 bootlimit=3 rollback=1"))
        #expect(m.handle(.resumed) == .perform(.markBad))
        #expect(m.progress?.rollbackReason?.contains("boot counter gave up") == true)
        let (steps, end) = drive(&m, from: .perform(.markBad))
        // The previous commit is booted already: no second reboot.
        #expect(steps == [.markBad, .stopNewApps, .restoreOS, .disarmBootloader, .restoreApps, .finishRollback])
        guard case .finished(.rolledBack(let bad, let to, _)) = end else { Issue.record("\(end)"); return }
        #expect(bad == v2os && to == v1)
    }

    @Test func aStagedDeploymentLostBeforeTheRebootIsStagedAgainNotMarkedBad() {
        let p = awaitingReboot(since: "b1")
        // The power was cut before ostree-finalize-staged: the old commit booted and is still
        // the one that boots next; armed flags counted that boot.
        let lost = BootObservation(bootedCommit: commit(1), bootID: "b2", bootloaderFlags: "upgrade_available=1 bootcount=1 bootlimit=3",
                                   nextCommit: commit(1))
        var m = UpdateStateMachine(progress: p, boot: lost)
        #expect(m.handle(.resumed) == .perform(.stageOS))
        #expect(m.progress?.restages == 1 && m.progress?.isRollingBack == false)
        #expect(m.handle(.succeeded(.stageOS)) == .perform(.armBootloader))
        #expect(m.handle(.succeeded(.armBootloader)) == .awaitReboot(.reboot))
        #expect(m.progress?.rebootBootID == "b2")
    }

    @Test func aLostStagedDeploymentWinsOverTheBootCounterAndIsRestagedAtArmToo() {
        var p = awaitingReboot(since: "b1")
        // Power cuts kept the old commit booting while the flags counted past the limit.
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b7", bootloaderFellBack: true,
                                                                      bootloaderFlags: "bootcount=4 bootlimit=3", nextCommit: commit(1)))
        #expect(m.handle(.resumed) == .perform(.stageOS))
        p.step = .armBootloader
        m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b7", nextCommit: commit(1)))
        #expect(m.handle(.resumed) == .perform(.stageOS))
        // In the same boot the staged deployment is listed first: arming is simply done again.
        m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b1", nextCommit: commit(2)))
        #expect(m.handle(.resumed) == .perform(.armBootloader))
    }

    @Test func aNewDeploymentTheBootloaderNeverTriedIsArmedAgainThenGivenUpOn() {
        let p = awaitingReboot(since: "b0")
        // v2 is the deployment that boots next, the counter counted one boot, yet v1 booted: the
        // bootloader's menu still listed only v1 (made again from ostree's entries too late).
        let stale = BootObservation(bootedCommit: commit(1), bootID: "b1", bootloaderFlags: "upgrade_available=1 bootcount=1 bootlimit=3",
                                    nextCommit: commit(2))
        var m = UpdateStateMachine(progress: p, boot: stale, maxRestarts: 3)
        for _ in 1...3 {
            #expect(m.handle(.resumed) == .perform(.armBootloader))
            #expect(m.handle(.succeeded(.armBootloader)) == .awaitReboot(.reboot))
            var next = m.progress!
            next.rebootBootID = "b0"
            m = UpdateStateMachine(progress: next, boot: stale, maxRestarts: 3)
        }
        #expect(m.handle(.resumed) == .perform(.markBad))
        #expect(m.progress?.rollbackReason?.contains("4 times without counting a failed boot") == true, "\(m.progress?.rollbackReason ?? "")")
    }

    @Test func aStagedDeploymentLostEveryTimeRollsBackAfterTheRestartLimit() {
        let p = awaitingReboot(since: "b0")
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b1", nextCommit: commit(1)), maxRestarts: 3)
        for _ in 1...3 {
            #expect(m.handle(.resumed) == .perform(.stageOS))
            let (steps, end) = drive(&m, from: .perform(.stageOS))
            #expect(steps == [.stageOS, .armBootloader] && end == .awaitReboot(.reboot))
            var next = m.progress!
            next.rebootBootID = "b0"  // a new boot each time
            m = UpdateStateMachine(progress: next, boot: m.boot, maxRestarts: 3)
        }
        #expect(m.handle(.resumed) == .perform(.markBad))
        #expect(m.progress?.rollbackReason?.contains("lost 4 times before it was finalized") == true, "\(m.progress?.rollbackReason ?? "")")
    }

    @Test func aRebootIntoTheOldCommitDuringHealthRollsBack() {
        var p = progress(v2os, kind: .newOS)
        p.step = .health
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b5"))
        #expect(m.handle(.resumed) == .perform(.markBad))
        #expect(m.progress?.rollbackReason?.contains("during health") == true)
    }

    @Test func anEarlyBootOfTheNewCommitSkipsToItsApps() {
        var p = progress(v2os, kind: .newOS)
        p.step = .armBootloader
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(2), bootID: "b5"))
        #expect(m.handle(.resumed) == .perform(.stopOldApps))
    }

    @Test func pausesBeforeTheRequestedStepAndResumeKeepsThePause() {
        var m = UpdateStateMachine(progress: nil, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"), pauseBefore: [.installApps])
        #expect(m.handle(.begin(progress(v2apps, kind: .appsOnly))) == .perform(.fetch))
        #expect(m.handle(.succeeded(.fetch)) == .finished(.paused(before: .installApps)))
        var again = UpdateStateMachine(progress: m.progress, boot: m.boot)
        #expect(again.handle(.resumed) == .finished(.paused(before: .installApps)))
        #expect(again.handle(.proceed) == .perform(.installApps))
    }

    @Test func aFailedRollbackStepIsRetriedAtTheNextResume() {
        var p = progress(v2apps, kind: .appsOnly)
        p.rollbackReason = "health failed"
        p.step = .restoreApps
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        #expect(m.handle(.failed(.restoreApps, reason: "engine down")) == .finished(.rollbackStuck(.restoreApps, reason: "engine down")))
        var again = UpdateStateMachine(progress: m.progress, boot: m.boot)
        #expect(again.handle(.resumed) == .perform(.restoreApps))
    }

    @Test func aRollbackRebootThatDidNotTakeMakesThePreviousCommitDefaultAgain() {
        var p = progress(v2os, kind: .newOS)
        p.rollbackReason = "health failed"
        p.step = .rollbackReboot
        p.rebootBootID = "b2"
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(2), bootID: "b3"))
        #expect(m.handle(.resumed) == .perform(.restoreOS))
    }

    @Test func rollbackRequestedDuringAnUpdateUndoesIt() {
        var p = progress(v2os, kind: .newOS)
        p.step = .reboot
        p.rebootBootID = "b1"
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b1"))
        #expect(m.handle(.rollbackRequested(reason: "operator")) == .perform(.markBad))
        #expect(m.progress?.rollbackReason == "operator")
    }
}

@Suite struct RestartLimitTests {
    let v1 = target(1, os: 1, apps: [app("web", 1)])
    let v2 = target(2, os: 1, apps: [app("web", 2)])

    @Test func aStepThatKeepsGettingKilledRollsBackInsteadOfLooping() {
        var p = UpdateProgress(id: "x", target: v2, from: v1, fromCommit: v1.osCommit, fromApps: v1.apps, kind: .appsOnly,
                               step: .health, startedAt: Date())
        for attempt in 1...3 {
            var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b"))
            #expect(m.handle(.resumed) == .perform(.health), "attempt \(attempt)")
            p = m.progress!
        }
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b"))
        #expect(m.handle(.resumed) == .perform(.markBad))
        #expect(m.progress?.rollbackReason == "health was interrupted 4 times (the process was killed or the device reset during it)")
    }

    @Test func aFetchThatKeepsGettingKilledIsAbandoned() {
        let p = UpdateProgress(id: "x", target: v2, from: v1, fromCommit: v1.osCommit, fromApps: v1.apps, kind: .appsOnly,
                               step: .fetch, restarts: 3, startedAt: Date())
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b"))
        #expect(m.handle(.resumed) == .finished(.abandoned(v2, reason: "fetch was interrupted 4 times")))
    }

    @Test func reachingTheNextStepResetsTheCount() {
        let p = UpdateProgress(id: "x", target: v2, from: v1, fromCommit: v1.osCommit, fromApps: v1.apps, kind: .appsOnly,
                               step: .startApps, restarts: 3, startedAt: Date())
        var m = UpdateStateMachine(progress: p, boot: BootObservation(bootedCommit: commit(1), bootID: "b"))
        #expect(m.handle(.succeeded(.startApps)) == .perform(.health))
        #expect(m.progress?.restarts == 0)
    }

    @Test func theEnvironmentHookFiresOnlyAtItsStepAndPoint() async throws {
        final class Exits: @unchecked Sendable { var codes: [Int32] = [] }
        let exits = Exits()
        let hook = CrashHook.fromEnvironment(["OTTER_CRASH_AT": "stage-os:after"]) { code in
            exits.codes.append(code)
            throw SimulatedCrash()
        }
        try hook.check(.stageOS, .beforeEffect)
        try hook.check(.armBootloader, .afterEffect)
        #expect(exits.codes.isEmpty)
        #expect(throws: SimulatedCrash.self) { try hook.check(.stageOS, .afterEffect) }
        #expect(exits.codes == [137])
        try CrashHook.fromEnvironment(["OTTER_CRASH_AT": "no-such-step"]) { _ in throw SimulatedCrash() }.check(.fetch, .beforeEffect)
    }
}
