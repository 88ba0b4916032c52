// The device side of an update, for the CLI and the daemon:
//
//   let updater = Updater(executor: UpdateExecutor(store:os:apps:bootFlags:health:reporter:rebooter:options:),
//                         source: TUFTargetSource { … }, selection: TargetSelection(hardwareId:tags:))
//   try await updater.resumeAfterBoot()        // at every start: resume, roll back, or keep waiting
//   try await updater.check()                  // otter check
//   try await updater.update(until: .fetched)  // otter fetch   (.installed: otter install)
//   try await updater.update()                 // otter update / otter start
//   try await updater.rollback()               // otter rollback
//   try await updater.status()                 // otter status (Encodable for --json)
//
// Steps are recorded in the state database before their side effect; `OTTER_CRASH_AT=<step>[:after]`
// (CrashHook.fromEnvironment) kills the process at one, for the crash matrix.
import Bootloader
import FoundationEssentials
import TUF

/// Where the device's Targets come from: the verified `targets.json` of its TUF repository.
public protocol TargetSource: Sendable {
    func targetFiles() async throws -> [TargetFile]
}

/// One line of `otter check`.
public struct TargetStatus: Sendable, Equatable {
    public var target: Target
    public var isCurrent: Bool
    /// The Target of the update in flight.
    public var isPending: Bool
    public var bad: BadTarget?
}

/// How far `update` goes before it pauses (the `otter fetch` / `install` / `update` verbs).
public enum UpdateMilestone: Sendable {
    /// Everything downloaded and verified; nothing installed.
    case fetched
    /// Apps-only: images loaded, old apps still running. New OS: staged and armed (a reboot
    /// follows either way).
    case installed
    case complete

    var pauseBefore: Set<UpdateStep> {
        switch self {
        case .fetched: [.installApps]
        case .installed: [.stopOldApps]
        case .complete: []
        }
    }
}

/// What `otter status` shows.
public struct UpdaterStatus: Sendable, Equatable {
    public var current: Target?
    public var previous: Target?
    public var inFlight: UpdateProgress?
    public var bad: [BadTarget]
    public var lastHealth: HealthRecord?
    public var boot: BootObservation
    public var bootFlags: BootState?
    /// The commit that boots next.
    public var defaultCommit: String?
    /// When the daemon may install (set by the caller that knows the configuration).
    public var windows: WindowStatus?
    /// The booted commit is not the current Target's (a rollback by hand, or a reboot pending).
    public var osDiffersFromCurrent: Bool {
        guard let current, let booted = boot.bootedCommit else { return false }
        return current.osCommit != booted
    }
}

/// The device side of Otter in one place: the CLI verbs and the daemon call these.
public final class Updater: Sendable {
    public let executor: UpdateExecutor
    public let source: any TargetSource
    public let selection: TargetSelection

    public init(executor: UpdateExecutor, source: any TargetSource, selection: TargetSelection) {
        self.executor = executor
        self.source = source
        self.selection = selection
    }

    public var store: StateStore { executor.store }

    /// The Targets for this device, newest first, with their state. Targets whose `custom` is not
    /// valid are returned in `rejected`.
    public func check() async throws -> (targets: [TargetStatus], rejected: [TargetError]) {
        let (targets, rejected) = TargetSelection.parse(try await source.targetFiles())
        let current = try store.current()
        let pending = try store.progress()?.target
        let bad = try store.badTargets()
        let statuses = selection.candidates(targets).map { target in
            TargetStatus(target: target, isCurrent: target == current, isPending: target == pending,
                         bad: bad.first { $0.name == target.name })
        }
        return (statuses, rejected)
    }

    /// Applies the newest good Target (or the one of `version`; a bad one only with `force`, which
    /// without a version takes the newest even when it is bad), up to `milestone`. An update already in flight is continued first.
    public func update(force: Bool = false, version: String? = nil, until milestone: UpdateMilestone = .complete) async throws -> UpdateResult {
        try await update(force: force, version: version, until: { _ in milestone })
    }

    /// `update` going as far as `milestone(target)` says for the Target it applies (the daemon:
    /// `.fetched` outside the update windows unless the Target ignores them).
    public func update(force: Bool = false, version: String? = nil,
                       until milestone: (Target) -> UpdateMilestone) async throws -> UpdateResult {
        if let inFlight = try store.progress(), version == nil || inFlight.target.version == version {
            return try await executor.proceed(pauseBefore: milestone(inFlight.target).pauseBefore)
        }
        let (targets, _) = TargetSelection.parse(try await source.targetFiles())
        let target: Target
        if let version {
            target = try selection.choose(version: version, from: targets)
        } else {
            let bad = force ? [] : Set(try store.badTargets().map(\.name))
            guard let newest = selection.newest(targets, bad: bad) else {
                if let current = try store.current() { return .alreadyCurrent(current) }
                throw UpdaterError("no Target for hardware id \(selection.hardwareId)\(selection.tags.isEmpty ? "" : " and tags \(selection.tags.joined(separator: ","))") that is not marked bad; `otter check` lists them")
            }
            target = newest
        }
        if try store.current() == target { return .alreadyCurrent(target) }
        return try await executor.apply(target, force: force, pauseBefore: milestone(target).pauseBefore)
    }

    /// At start and after each boot: resumes, rolls back or keeps waiting for a reboot. An update
    /// whose install has not begun goes no further than `milestone` says (an unplanned reboot
    /// outside the update windows never applies a fetched update early).
    public func resumeAfterBoot(until milestone: (Target) -> UpdateMilestone = { _ in .complete }) async throws -> UpdateResult {
        guard let inFlight = try store.progress() else { return try await executor.resume() }
        return try await executor.resume(pauseBefore: milestone(inFlight.target).pauseBefore)
    }

    /// Back to the previous Target, OS and apps (or undo the update in flight).
    public func rollback() async throws -> UpdateResult {
        try await executor.rollback()
    }

    public func status() async throws -> UpdaterStatus {
        let boot = try await executor.observeBoot()
        return UpdaterStatus(current: try store.current(), previous: try store.previous(), inFlight: try store.progress(),
                             bad: try store.badTargets(), lastHealth: try store.lastHealth(), boot: boot,
                             bootFlags: try? executor.bootFlags.state(), defaultCommit: boot.nextCommit)
    }
}


extension UpdaterStatus: Encodable {
    private enum Keys: String, CodingKey {
        case current, previous, inFlight, bad, lastHealth, boot, bootFlags, defaultCommit, osDiffersFromCurrent, updateWindows
    }

    private struct Flags: Encodable {
        var upgradeAvailable: Bool
        var bootCount: Int
        var bootLimit: Int?
        var rollback: Bool
        var remainingBootAttempts: Int?
    }

    /// `otter status --json`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(current, forKey: .current)
        try c.encodeIfPresent(previous, forKey: .previous)
        try c.encodeIfPresent(inFlight, forKey: .inFlight)
        try c.encode(bad, forKey: .bad)
        try c.encodeIfPresent(lastHealth, forKey: .lastHealth)
        try c.encode(boot, forKey: .boot)
        try c.encodeIfPresent(bootFlags.map {
            Flags(upgradeAvailable: $0.upgradeAvailable, bootCount: $0.bootCount, bootLimit: $0.bootLimit, rollback: $0.rollback,
                  remainingBootAttempts: $0.remainingBootAttempts)
        }, forKey: .bootFlags)
        try c.encodeIfPresent(defaultCommit, forKey: .defaultCommit)
        try c.encode(osDiffersFromCurrent, forKey: .osDiffersFromCurrent)
        try c.encodeIfPresent(windows, forKey: .updateWindows)
    }
}

extension UpdateResult: CustomStringConvertible {
    /// One line for the person at the console.
    public var description: String {
        switch self {
        case .alreadyCurrent(let target): "\(target) is already installed and running"
        case .rebootRequired(let step, let rebooting):
            (step == .reboot ? "the new OS is staged and the bootloader armed" : "the previous OS boots next")
                + (rebooting ? "; rebooting now" : "; reboot to continue (otter resumes by itself after the boot)")
        case .finished(let outcome): outcome.description
        }
    }
}

extension UpdateStateMachine.Outcome: CustomStringConvertible {
    public var description: String {
        switch self {
        case .idle: "no update in progress"
        case .committed(let target): "\(target) is installed and passed its health check"
        case .rolledBack(let bad, let to, let reason):
            "\(bad) was rolled back (\(reason)); running \(to.map(\.description) ?? "the previous OS and apps") again. It is marked bad and not retried unless forced"
        case .abandoned(let target, let reason): "the update to \(target) stopped before changing anything: \(reason); the next check tries again"
        case .paused(let before): "paused before \(before.rawValue); run `otter update` (or `otter install`/`otter start`) to go on"
        case .rollbackStuck(let step, let reason):
            "the rollback stopped at \(step.rawValue): \(reason); fix the cause and run `otter update` to finish it (`otter status` shows the state)"
        }
    }
}
