import Bootloader

/// The bootloader flags over `Bootloader.BootCounter` (U-Boot env, GRUB env, plain file, custom
/// script; chosen by config through `BootloaderBackend.bootCounter(type:path:scheme:)`).
public struct BootCounterFlags: BootFlags {
    public let counter: BootCounter

    public init(_ counter: BootCounter) {
        self.counter = counter
    }

    public func arm() throws { try counter.armUpgrade() }

    public func markSuccessful() throws { try counter.markBootSuccessful() }

    /// One write, so a power cut leaves the flags armed or cleared, never half: the fallback
    /// flag goes too, or U-Boot would keep booting the second entry (LmP's `bootcmd_rollback`).
    public func disarm() throws {
        typealias V = BootCounter.Variable
        switch counter.scheme {
        case .upgradeAvailable:
            try counter.environment.apply([V.upgradeAvailable: "0", V.bootCount: "0", V.rollback: "0"])
        case .greenboot:
            try counter.environment.apply([V.greenbootSuccess: "1", V.greenbootCounter: nil])
        }
    }

    public func state() throws -> BootState { try counter.state() }
}
