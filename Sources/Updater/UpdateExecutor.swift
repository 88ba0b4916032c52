import Bootloader
import FoundationEssentials

/// How a run of the executor ended.
public enum UpdateResult: Sendable, Equatable {
    case finished(UpdateStateMachine.Outcome)
    /// Recorded at `reboot` or `rollback-reboot`; `rebooting` when the executor asked for the
    /// reboot itself. Call `resume()` after the boot.
    case rebootRequired(UpdateStep, rebooting: Bool)
    /// The Target asked for is the current one.
    case alreadyCurrent(Target)
}

public struct ExecutorOptions: Sendable {
    /// Reboot through `Rebooting` when a reboot is needed, instead of only reporting it.
    public var rebootAutomatically: Bool
    public var crashHook: CrashHook

    public init(rebootAutomatically: Bool = false, crashHook: CrashHook = .none) {
        self.rebootAutomatically = rebootAutomatically
        self.crashHook = crashHook
    }
}

/// Performs the state machine's actions: each step is recorded in the state database first,
/// then performed through the backends, then its result is fed back. Every step is idempotent,
/// so a process killed anywhere resumes (or rolls back) from the recorded step.
public final class UpdateExecutor: Sendable {
    public let store: StateStore
    let os: any OSBackend
    let apps: any AppsBackend
    let bootFlags: any BootFlags
    let health: any HealthChecking
    let reporter: any UpdateReporting
    let rebooter: any Rebooting
    let clock: any UpdateClock
    let options: ExecutorOptions

    public init(store: StateStore, os: any OSBackend, apps: any AppsBackend, bootFlags: any BootFlags,
                health: any HealthChecking, reporter: any UpdateReporting = SilentReporter(), rebooter: any Rebooting,
                clock: any UpdateClock = SystemClock(), options: ExecutorOptions = ExecutorOptions()) {
        self.store = store
        self.os = os
        self.apps = apps
        self.bootFlags = bootFlags
        self.health = health
        self.reporter = reporter
        self.rebooter = rebooter
        self.clock = clock
        self.options = options
    }

    /// What booted and what the bootloader says about it.
    public func observeBoot() async throws -> BootObservation {
        let (booted, bootID) = try await os.observe()
        let next = try await os.defaultCommit()
        // An unreadable env must not hide what booted: the booted commit decides on its own,
        // and the steps that write the env report the damage.
        let state: BootState
        do { state = try bootFlags.state() } catch {
            return BootObservation(bootedCommit: booted, bootID: bootID, bootloaderFellBack: false,
                                   bootloaderFlags: "bootloader env unreadable: \(error)", nextCommit: next)
        }
        return BootObservation(bootedCommit: booted, bootID: bootID, bootloaderFellBack: state.rollback || state.bootLimitExceeded,
                               bootloaderFlags: state.description, nextCommit: next)
    }

    /// Starts applying `target`. A Target marked bad needs `force`. An update of the same Target
    /// already in flight is continued; another one must finish or be rolled back first.
    public func apply(_ target: Target, force: Bool = false, pauseBefore: Set<UpdateStep> = []) async throws -> UpdateResult {
        try await store.exclusively { try await applyNow(target, force: force, pauseBefore: pauseBefore) }
    }

    private func applyNow(_ target: Target, force: Bool, pauseBefore: Set<UpdateStep>) async throws -> UpdateResult {
        if let inFlight = try store.progress() {
            guard inFlight.target == target else {
                throw UpdaterError("an update to \(inFlight.target) is in progress (step \(inFlight.step.rawValue)); finish it with `otter update` or undo it with `otter rollback` first")
            }
            var machine = UpdateStateMachine(progress: inFlight, boot: try await observeBoot(), pauseBefore: pauseBefore)
            return try await run(&machine, .proceed)
        }
        let current = try store.current()
        if current == target { return .alreadyCurrent(target) }
        if !force, let bad = try store.badTargets().first(where: { $0.name == target.name }) {
            throw UpdaterError("\(target) is marked bad (\(bad.reason)); it is not retried automatically — run `otter update --force \(target.version)` to try it again")
        }
        if let refusal = apps.refusal(of: target.apps) {
            // Recorded for the backend (the events queue) and thrown for the caller; nothing changed.
            // Queued once until the gateway has it: a daemon polling must not add one per poll.
            let correlationID = "\(target.version)-refused"
            if try !store.hasQueuedEvent(correlationID: correlationID) {
                await emit(UpdateEvent(time: clock.now(), correlationID: correlationID, target: target.name,
                                       version: target.version, step: "update", result: .failed, detail: "refused: \(refusal)"))
            }
            throw UpdaterError("\(target) is refused: \(refusal)")
        }
        let boot = try await observeBoot()
        let fromCommit = boot.bootedCommit ?? current?.osCommit ?? ""
        let fromApps: [AppRef]
        if let current { fromApps = current.apps } else { fromApps = try await apps.running() }
        let progress = UpdateProgress(
            id: "\(target.version)-\(UUID().uuidString.lowercased())", target: target, from: current, fromCommit: fromCommit,
            fromApps: fromApps, kind: fromCommit == target.osCommit ? .appsOnly : .newOS, force: force, startedAt: clock.now())
        var machine = UpdateStateMachine(progress: nil, boot: boot, pauseBefore: pauseBefore)
        return try await run(&machine, .begin(progress))
    }

    /// At process start (and after every boot): goes on with the update in flight, finishes a
    /// rollback, or keeps waiting for a reboot. A paused update stays paused.
    public func resume(pauseBefore: Set<UpdateStep> = []) async throws -> UpdateResult {
        try await store.exclusively {
            var machine = UpdateStateMachine(progress: try store.progress(), boot: try await observeBoot(), pauseBefore: pauseBefore)
            return try await run(&machine, .resumed)
        }
    }

    /// Continues a paused update (`otter install` after `otter fetch`).
    public func proceed(pauseBefore: Set<UpdateStep> = []) async throws -> UpdateResult {
        try await store.exclusively {
            var machine = UpdateStateMachine(progress: try store.progress(), boot: try await observeBoot(), pauseBefore: pauseBefore)
            return try await run(&machine, .proceed)
        }
    }

    /// `otter rollback`: undoes the update in flight, or else returns to the previous Target (OS
    /// and apps) and marks the current one bad.
    public func rollback(reason: String = "rolled back on request (otter rollback)") async throws -> UpdateResult {
        try await store.exclusively { try await rollbackNow(reason: reason) }
    }

    private func rollbackNow(reason: String) async throws -> UpdateResult {
        let boot = try await observeBoot()
        if let inFlight = try store.progress() {
            var machine = UpdateStateMachine(progress: inFlight, boot: boot)
            return try await run(&machine, .rollbackRequested(reason: reason))
        }
        guard let current = try store.current() else {
            throw UpdaterError("there is no current Target to roll back from; `otter status` shows what is installed")
        }
        guard let previous = try store.previous() else {
            throw UpdaterError("\(current) has no previous Target to roll back to (the first Target since provisioning, or one rollback was done already)")
        }
        let progress = UpdateProgress(
            id: "\(current.version)-rollback-\(UUID().uuidString.lowercased())", target: current, from: previous,
            fromCommit: previous.osCommit, fromApps: previous.apps,
            kind: previous.osCommit == current.osCommit ? .appsOnly : .newOS, startedAt: clock.now())
        var machine = UpdateStateMachine(progress: nil, boot: boot)
        return try await run(&machine, .beginRollback(progress, reason: reason))
    }

    // MARK: the loop

    private func run(_ machine: inout UpdateStateMachine, _ first: UpdateStateMachine.Event) async throws -> UpdateResult {
        var event = first
        while true {
            let before = machine.progress
            let action = machine.handle(event)
            // The record comes first: whatever happens next, a restart finds this step.
            if machine.progress != nil || before != nil {
                try store.saveProgress(machine.progress, at: clock.now())
            }
            switch action {
            case .finished(let outcome):
                // A pause is reported when it is reached, not at every later resume.
                let stillPaused = if case .paused = outcome { before?.paused == true } else { false }
                if let progress = before ?? machine.progress, !stillPaused { await emit(progress, "update", outcome) }
                return .finished(outcome)
            case .awaitReboot(let step):
                guard let progress = machine.progress else { return .finished(.idle) }
                try options.crashHook.check(step, .beforeEffect)
                if before?.step != step {
                    await emit(progress, step.rawValue, .succeeded, "reboot needed to run \(step == .reboot ? progress.target.osCommit.prefix(12) : progress.fromCommit.prefix(12))")
                }
                if options.rebootAutomatically { try await rebooter.reboot() }
                try options.crashHook.check(step, .afterEffect)
                return .rebootRequired(step, rebooting: options.rebootAutomatically)
            case .perform(let step):
                guard let progress = machine.progress else { return .finished(.idle) }
                try options.crashHook.check(step, .beforeEffect)
                await emit(progress, step.rawValue, .started, (progress.restages ?? 0) > (before?.restages ?? 0) ? restartReason(step) : nil)
                do {
                    try await perform(step, progress)
                    event = .succeeded(step)
                    await emit(progress, step.rawValue, .succeeded)
                } catch {
                    event = .failed(step, reason: "\(error)")
                    await emit(progress, step.rawValue, .failed, "\(error)")
                }
                try options.crashHook.check(step, .afterEffect)
            }
        }
    }

    private func perform(_ step: UpdateStep, _ p: UpdateProgress) async throws {
        let target = p.target
        switch step {
        case .fetch:
            if p.kind == .newOS { try await os.pull(commit: target.osCommit) }
            try await apps.fetch(target.apps)
        case .installApps:
            try await apps.install(target.apps)
        case .stageOS:
            try await os.stage(commit: target.osCommit)
        case .armBootloader:
            try bootFlags.arm()
        case .reboot, .rollbackReboot:
            break  // handled as awaitReboot
        case .stopOldApps:
            try await apps.stop(p.appsToStopOnApply)
        case .startApps:
            try await apps.start(target.apps)
        case .health:
            let verdict = await health.check(target)
            try store.saveHealth(verdict, of: target, at: clock.now())
            guard verdict.passed else { throw UpdaterError("health check failed: \(verdict.summary)") }
        case .commit:
            if p.kind == .newOS { try bootFlags.markSuccessful() }
            try store.commit(p, at: clock.now())
            await prune(after: p)
        case .markBad:
            try store.markBad(target, reason: p.rollbackReason ?? "rolled back", at: clock.now())
        case .stopNewApps:
            try await apps.stop(p.appsToStopOnRollback)
        case .restoreOS:
            try await os.makeDefault(commit: p.fromCommit)
        case .disarmBootloader:
            try bootFlags.disarm()
        case .restoreApps:
            try await apps.start(p.fromApps)
        case .finishRollback:
            try store.finishRollback(p, at: clock.now())
        }
    }

    /// Why the reboot into the new OS starts over at `step`.
    private func restartReason(_ step: UpdateStep) -> String? {
        switch step {
        case .stageOS: "the staged deployment was lost before it was finalized at shutdown (power cut?); staging it again"
        case .armBootloader: "the bootloader booted the previous deployment without trying the new one (its menu not updated yet?); arming it again"
        default: nil
        }
    }

    /// Keeps the new Target and the one before it; a failed prune is reported, never undoes the commit.
    private func prune(after p: UpdateProgress) async {
        do {
            if p.kind == .newOS { try await os.prune(keeping: [p.target.osCommit, p.fromCommit]) }
            try await apps.prune(keeping: p.target.apps + p.fromApps)
        } catch {
            await emit(p, "prune", .failed, "\(error)")
        }
    }

    private func emit(_ p: UpdateProgress, _ step: String, _ outcome: UpdateStateMachine.Outcome) async {
        switch outcome {
        case .idle: return
        case .committed: await emit(p, step, .succeeded, "committed \(p.target)")
        case .rolledBack(_, let to, let reason): await emit(p, step, .failed, "rolled back to \(to.map(\.description) ?? "the previous state"): \(reason)")
        case .abandoned(_, let reason): await emit(p, step, .failed, "abandoned: \(reason)")
        case .paused(let before): await emit(p, step, .succeeded, "paused before \(before.rawValue)")
        case .rollbackStuck(let at, let reason): await emit(p, step, .failed, "rollback stopped at \(at.rawValue): \(reason); run `otter update` or restart otter to retry it")
        }
    }

    private func emit(_ p: UpdateProgress, _ step: String, _ result: UpdateEvent.Result, _ detail: String? = nil) async {
        await emit(UpdateEvent(time: clock.now(), correlationID: p.id, target: p.target.name, version: p.target.version,
                               step: step, result: result, detail: detail))
    }

    private func emit(_ event: UpdateEvent) async {
        // The queue is for the backend's view; a full disk must not stop a rollback, and the
        // step itself is in update_progress already, so a failed enqueue is only reported.
        do { try store.enqueue(event) } catch {
            await reporter.report(UpdateEvent(time: event.time, correlationID: event.correlationID, target: event.target,
                                              version: event.version, step: "event-queue", result: .failed, detail: "\(error)"))
        }
        await reporter.report(event)
    }
}
