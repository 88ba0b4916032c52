import Bootloader

/// For `[bootloader] backend = "none"`: nothing counts boots, so a kernel that never reaches
/// user space is not rolled back by the bootloader (health-check rollbacks still work).
public struct NoBootFlags: BootFlags {
    public init() {}
    public func arm() throws {}
    public func markSuccessful() throws {}
    public func disarm() throws {}
    public func state() throws -> BootState { BootState(upgradeAvailable: false, bootCount: 0, bootLimit: nil, rollback: false) }
}
