/// The update coordinator as a pure state machine (swift-nio style): it takes an event and
/// returns the one action to perform next. It does no I/O; `UpdateExecutor` records each step in
/// the state database before performing it and feeds the result back as the next event.
///
/// Forward paths (DESIGN.md):
/// - apps-only: fetch → install-apps → stop-old-apps → start-apps → health → commit
/// - new OS: fetch → install-apps → stage-os → arm-bootloader → reboot ⟶ (boot) ⟶ stop-old-apps →
///   start-apps → health → commit
///
/// Any failure after fetch rolls back: mark-bad → stop-new-apps → [restore-os → disarm-bootloader
/// → rollback-reboot ⟶ (boot)] → restore-apps → finish-rollback. A failed fetch changed nothing:
/// the update is abandoned without marking the Target bad.
public struct UpdateStateMachine: Sendable {
    public enum Event: Sendable, Equatable {
        /// A new update, recorded at its first step.
        case begin(UpdateProgress)
        /// The process (re)started with `progress` loaded from the state database: resume, roll
        /// back, or keep waiting for the reboot, according to what booted.
        case resumed
        /// A paused update goes on (`otter install` after `otter fetch`).
        case proceed
        case succeeded(UpdateStep)
        case failed(UpdateStep, reason: String)
        /// Roll back the update in flight (`otter rollback` during an update).
        case rollbackRequested(reason: String)
        /// Roll back a committed Target to the one before it: `progress` describes the current
        /// Target as `target` and the previous one as `from`.
        case beginRollback(UpdateProgress, reason: String)
    }

    public enum Outcome: Sendable, Equatable {
        /// Nothing in flight.
        case idle
        case committed(Target)
        /// The Target is marked bad; the device runs `to` (nil: the unnamed factory state).
        case rolledBack(bad: Target, to: Target?, reason: String)
        /// A fetch failed before anything changed; the Target is not marked bad.
        case abandoned(Target, reason: String)
        /// Stopped on purpose before this step.
        case paused(before: UpdateStep)
        /// A rollback step failed; the step stays recorded and is retried at the next resume.
        case rollbackStuck(UpdateStep, reason: String)
    }

    public enum Action: Sendable, Equatable {
        /// Record `progress` (this step), then perform it.
        case perform(UpdateStep)
        /// `progress` is recorded at `reboot` or `rollback-reboot`: the device must reboot (the
        /// executor reboots when configured to). Resuming after the boot goes on.
        case awaitReboot(UpdateStep)
        case finished(Outcome)
    }

    public private(set) var progress: UpdateProgress?
    /// What booted, observed once at process start: it changes only across a reboot.
    public let boot: BootObservation
    /// Steps before which a forward run pauses (`otter fetch` pauses before install-apps).
    public var pauseBefore: Set<UpdateStep>
    /// A forward step interrupted this many times (the process killed, the device reset) fails,
    /// and the update rolls back, instead of crashing the device in a loop.
    public var maxRestarts: Int

    public init(progress: UpdateProgress?, boot: BootObservation, pauseBefore: Set<UpdateStep> = [], maxRestarts: Int = 3) {
        self.progress = progress
        self.boot = boot
        self.pauseBefore = pauseBefore
        self.maxRestarts = maxRestarts
    }

    public mutating func handle(_ event: Event) -> Action {
        switch event {
        case .begin(var p):
            p.step = .fetch
            p.paused = false
            p.rollbackReason = nil
            progress = p
            return .perform(.fetch)
        case .beginRollback(let p, let reason):
            progress = p
            return startRollback(reason)
        case .resumed:
            return resume()
        case .proceed:
            guard var p = progress else { return .finished(.idle) }
            guard p.paused else { return resume() }
            p.paused = false
            progress = p
            return go(to: p.step)
        case .rollbackRequested(let reason):
            guard let p = progress else { return .finished(.idle) }
            if p.isRollingBack { return resume() }
            return startRollback(reason)
        case .succeeded(let step):
            guard let p = progress, p.step == step else { return .finished(.idle) }
            return p.isRollingBack ? rollbackStep(after: step) : forwardStep(after: step)
        case .failed(let step, let reason):
            guard let p = progress, p.step == step else { return .finished(.idle) }
            if p.isRollingBack { return .finished(.rollbackStuck(step, reason: reason)) }
            if step == .fetch {
                progress = nil
                return .finished(.abandoned(p.target, reason: "\(step.rawValue) failed: \(reason)"))
            }
            return startRollback("\(step.rawValue) failed: \(reason)")
        }
    }

    // MARK: forward

    private mutating func forwardStep(after step: UpdateStep) -> Action {
        guard let p = progress else { return .finished(.idle) }
        let path = UpdateStep.path(p.kind)
        guard let index = path.firstIndex(of: step) else { return .finished(.idle) }
        if step == .commit {
            progress = nil
            return .finished(.committed(p.target))
        }
        return go(to: path[index + 1])
    }

    private mutating func go(to step: UpdateStep) -> Action {
        guard var p = progress else { return .finished(.idle) }
        p.step = step
        p.restarts = 0
        if !p.isRollingBack && pauseBefore.contains(step) {
            p.paused = true
            progress = p
            return .finished(.paused(before: step))
        }
        if step == .reboot || step == .rollbackReboot {
            p.rebootBootID = boot.bootID
            progress = p
            return .awaitReboot(step)
        }
        progress = p
        return .perform(step)
    }

    // MARK: rollback

    private mutating func startRollback(_ reason: String) -> Action {
        guard var p = progress else { return .finished(.idle) }
        p.rollbackReason = reason
        p.paused = false
        p.restarts = 0
        p.step = .markBad
        progress = p
        return .perform(.markBad)
    }

    private mutating func rollbackStep(after step: UpdateStep) -> Action {
        guard let p = progress else { return .finished(.idle) }
        switch step {
        case .markBad: return go(to: .stopNewApps)
        case .stopNewApps: return go(to: p.kind == .newOS ? .restoreOS : .restoreApps)
        case .restoreOS: return go(to: .disarmBootloader)
        case .disarmBootloader:
            return boot.bootedCommit == p.fromCommit ? go(to: .restoreApps) : go(to: .rollbackReboot)
        case .rollbackReboot: return go(to: .restoreApps)
        case .restoreApps: return go(to: .finishRollback)
        case .finishRollback:
            progress = nil
            return .finished(.rolledBack(bad: p.target, to: p.from, reason: p.rollbackReason ?? "rolled back"))
        default: return .finished(.idle)
        }
    }

    // MARK: resume

    private mutating func resume() -> Action {
        guard let p = progress else { return .finished(.idle) }
        if p.isRollingBack { return resumeRollback(p) }
        if p.kind == .appsOnly {
            return p.paused ? .finished(.paused(before: p.step)) : redo(p)
        }
        let onTarget = boot.bootedCommit == p.target.osCommit
        let booted = boot.bootedCommit.map { String($0.prefix(12)) } ?? "no commit"
        if p.step.isBeforeReboot {
            // A deployment written at once (not staged) may boot before the reboot step.
            if onTarget { return go(to: .stopOldApps) }
            if p.step == .armBootloader && boot.lostDeployment(of: p.target.osCommit) {
                return restage(p)
            }
            if p.step != .fetch && p.step != .installApps && boot.bootloaderFellBack {
                return startRollback("the bootloader fell back to the previous deployment (\(boot.bootloaderFlags)) before the reboot into \(p.target.osCommit.prefix(12))")
            }
            return p.paused ? .finished(.paused(before: p.step)) : redo(p)
        }
        if p.step == .reboot {
            if onTarget { return go(to: .stopOldApps) }
            if boot.bootID == p.rebootBootID { return .awaitReboot(.reboot) }
            // Checked before the boot counter: armed flags count up on the old commit too.
            if boot.lostDeployment(of: p.target.osCommit) { return restage(p) }
            // The new deployment boots next and the counter has not given up: the bootloader
            // never tried it (a menu made from ostree's entries after a power cut, a stale
            // config). Not the Target's fault: arm again and reboot.
            if !boot.bootloaderFellBack && boot.nextCommit == p.target.osCommit { return retryBoot(p) }
            return startRollback("the device booted \(booted) instead of the new commit \(p.target.osCommit.prefix(12))"
                                 + (boot.bootloaderFellBack ? "; the bootloader's boot counter gave up (\(boot.bootloaderFlags))"
                                    : "; the new deployment did not boot"))
        }
        // After the reboot: the new commit must still be the booted one.
        if onTarget { return redo(p) }
        return startRollback("the device rebooted into \(booted) during \(p.step.rawValue) on the new commit \(p.target.osCommit.prefix(12))"
                             + (boot.bootloaderFellBack ? " (\(boot.bootloaderFlags))" : ""))
    }

    /// Starts the recorded step again; a forward step interrupted too often fails.
    private mutating func redo(_ p: UpdateProgress) -> Action {
        var again = p
        again.restarts += 1
        progress = again
        if again.restarts > maxRestarts {
            if p.step == .fetch {
                progress = nil
                return .finished(.abandoned(p.target, reason: "fetch was interrupted \(maxRestarts + 1) times"))
            }
            return startRollback("\(p.step.rawValue) was interrupted \(maxRestarts + 1) times (the process was killed or the device reset during it)")
        }
        return .perform(p.step)
    }

    /// The staged deployment was lost before ostree-finalize-staged wrote it (a power cut or a
    /// crash during shutdown): the Target is not at fault, so it is staged and armed again. A
    /// deployment lost every time (finalizing fails, /boot is full) rolls back after a few tries.
    private mutating func restage(_ p: UpdateProgress) -> Action {
        startOver(p, at: .stageOS, orRollBack: "the staged deployment of \(p.target.osCommit.prefix(12)) was lost \(maxRestarts + 1) times before it was finalized at shutdown (see `journalctl -b -1 -u ostree-finalize-staged`)")
    }

    private mutating func retryBoot(_ p: UpdateProgress) -> Action {
        startOver(p, at: .armBootloader, orRollBack: "the bootloader booted \(boot.bootedCommit.map { String($0.prefix(12)) } ?? "no commit") instead of the new deployment \(p.target.osCommit.prefix(12)) \(maxRestarts + 1) times without counting a failed boot (\(boot.bootloaderFlags)): is its menu or config updated when ostree writes a deployment?")
    }

    /// The reboot into the new OS starts over at `step`; both causes share one count, and past
    /// `maxRestarts` the update rolls back for `reason`.
    private mutating func startOver(_ p: UpdateProgress, at step: UpdateStep, orRollBack reason: String) -> Action {
        let count = (p.restages ?? 0) + 1
        var again = p
        again.restages = count
        progress = again
        return count > maxRestarts ? startRollback(reason) : go(to: step)
    }

    private mutating func resumeRollback(_ p: UpdateProgress) -> Action {
        guard p.step == .rollbackReboot else { return .perform(p.step) }
        if boot.bootedCommit == p.fromCommit { return go(to: .restoreApps) }
        if boot.bootID == p.rebootBootID { return .awaitReboot(.rollbackReboot) }
        // Rebooted, but not into the previous commit: make it the default again.
        var again = p
        again.step = .restoreOS
        progress = again
        return .perform(.restoreOS)
    }
}
