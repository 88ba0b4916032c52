import FoundationEssentials

/// How a Target is applied.
public enum UpdateKind: String, Sendable, Codable {
    /// Same OSTree commit as the running Target: only apps change, no reboot.
    case appsOnly = "apps-only"
    /// A new OSTree commit: staged, booted into, then its apps started.
    case newOS = "new-os"
}

/// The steps of both apply paths and of the rollback. The raw value is the step's name in the
/// state database, in events, and in `OTTER_CRASH_AT`.
public enum UpdateStep: String, Sendable, Codable, CaseIterable {
    // Forward.
    case fetch
    case installApps = "install-apps"
    case stageOS = "stage-os"
    case armBootloader = "arm-bootloader"
    case reboot
    case stopOldApps = "stop-old-apps"
    case startApps = "start-apps"
    case health
    case commit
    // Rollback.
    case markBad = "mark-bad"
    case stopNewApps = "stop-new-apps"
    case restoreOS = "restore-os"
    case disarmBootloader = "disarm-bootloader"
    case rollbackReboot = "rollback-reboot"
    case restoreApps = "restore-apps"
    case finishRollback = "finish-rollback"

    /// Forward steps of each path, in order.
    public static func path(_ kind: UpdateKind) -> [UpdateStep] {
        switch kind {
        case .appsOnly: [.fetch, .installApps, .stopOldApps, .startApps, .health, .commit]
        case .newOS: [.fetch, .installApps, .stageOS, .armBootloader, .reboot, .stopOldApps, .startApps, .health, .commit]
        }
    }

    /// Rollback steps of each path, in order (`rollbackReboot` only when the previous commit is
    /// not booted).
    public static func rollbackPath(_ kind: UpdateKind) -> [UpdateStep] {
        switch kind {
        case .appsOnly: [.markBad, .stopNewApps, .restoreApps, .finishRollback]
        case .newOS: [.markBad, .stopNewApps, .restoreOS, .disarmBootloader, .rollbackReboot, .restoreApps, .finishRollback]
        }
    }

    /// New-OS steps that run on the previous commit, before the reboot into the new one.
    var isBeforeReboot: Bool { [.fetch, .installApps, .stageOS, .armBootloader].contains(self) }

    public var isRollback: Bool { Self.rollbackPath(.newOS).contains(self) }
}

/// The update in flight, as the state database keeps it: everything a restarted process needs to
/// resume it or roll it back.
public struct UpdateProgress: Sendable, Equatable, Codable {
    /// Correlation id for events: `<version>-<random>`.
    public var id: String
    public var target: Target
    /// The Target the device ran when the update began (nil on a device that never had one).
    public var from: Target?
    /// The OSTree commit booted when the update began: what a rollback returns to.
    public var fromCommit: String
    /// The apps running when the update began: what a rollback restores.
    public var fromApps: [AppRef]
    public var kind: UpdateKind
    /// The step recorded before its side effect.
    public var step: UpdateStep
    /// Set once the update is being rolled back; why.
    public var rollbackReason: String?
    /// Applying a Target marked bad, on request.
    public var force: Bool
    /// The boot id when a reboot was requested: a different one after restart means it happened.
    public var rebootBootID: String?
    /// Stopped on purpose before `step` (`otter fetch`, `otter install`); continued on request.
    public var paused: Bool
    /// How often `step` was started again after an interruption: a step that keeps killing the
    /// process must not loop forever.
    public var restarts: Int
    /// How often the reboot into the new OS started over without a failed boot: the staged
    /// deployment was lost before it was finalized, or the bootloader never tried it (nil: never;
    /// optional so that progress recorded by an older Otter still loads).
    public var restages: Int?
    public var startedAt: Date

    public init(id: String, target: Target, from: Target?, fromCommit: String, fromApps: [AppRef], kind: UpdateKind,
                step: UpdateStep = .fetch, rollbackReason: String? = nil, force: Bool = false, rebootBootID: String? = nil,
                paused: Bool = false, restarts: Int = 0, startedAt: Date) {
        self.id = id
        self.target = target
        self.from = from
        self.fromCommit = fromCommit
        self.fromApps = fromApps.sorted()
        self.kind = kind
        self.step = step
        self.rollbackReason = rollbackReason
        self.force = force
        self.rebootBootID = rebootBootID
        self.paused = paused
        self.restarts = restarts
        self.startedAt = startedAt
    }

    public var isRollingBack: Bool { rollbackReason != nil }

    /// Apps of the new Target that the previous app set does not have at all. An app whose
    /// version changed is not stopped: starting the previous version replaces it in place.
    public var appsToStopOnRollback: [AppRef] {
        target.apps.filter { app in !fromApps.contains { $0.name == app.name } }
    }

    /// Apps running before that the new Target drops. An app whose version changes is not
    /// stopped first: starting the new version replaces it in place (`compose up`), which keeps
    /// its downtime to the container swap.
    public var appsToStopOnApply: [AppRef] {
        fromApps.filter { app in !target.apps.contains { $0.name == app.name } }
    }
}

/// What the OS and bootloader say at process start: enough to tell a reboot into the new commit
/// from a fallback to the old one and from no reboot at all.
public struct BootObservation: Sendable, Equatable, Codable {
    /// The booted deployment's commit; nil when nothing is booted (an image being built).
    public var bootedCommit: String?
    /// `/proc/sys/kernel/random/boot_id`: changes at every boot.
    public var bootID: String
    /// The bootloader gave up on the new deployment (`rollback=1`, or the count past the limit).
    public var bootloaderFellBack: Bool
    /// The flags, for messages.
    public var bootloaderFlags: String
    /// The deployment that boots next, as the sysroot lists it (a staged one first); nil when
    /// not known. A staged deployment lives in /run until ostree-finalize-staged writes it at
    /// shutdown: after a power cut before that, the next boot lists the old commit here again.
    public var nextCommit: String?

    public init(bootedCommit: String?, bootID: String, bootloaderFellBack: Bool = false, bootloaderFlags: String = "",
                nextCommit: String? = nil) {
        self.bootedCommit = bootedCommit
        self.bootID = bootID
        self.bootloaderFellBack = bootloaderFellBack
        self.bootloaderFlags = bootloaderFlags
        self.nextCommit = nextCommit
    }

    /// The sysroot no longer has `commit` as the deployment that boots next: a staged
    /// deployment was lost before it was finalized (or someone undeployed it).
    func lostDeployment(of commit: String) -> Bool {
        guard let nextCommit else { return false }
        return nextCommit != commit
    }
}
