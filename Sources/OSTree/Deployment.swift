/// One deployment of a sysroot, as `otter os status` shows it. A value snapshot: the sysroot
/// finds the libostree object again by (osname, checksum, serial).
public struct Deployment: Sendable, Equatable, Codable {
    /// Position in the boot order: 0 boots next.
    public let index: Int
    public let osname: String
    public let checksum: String
    public let serial: Int
    /// The origin refspec (what the deployment tracks), when it has one.
    public let origin: String?
    /// `version` of the deployed commit's metadata.
    public let version: String?
    /// Kernel arguments of its boot entry (`options` in the BLS config).
    public let kernelArguments: String?
    /// Absolute path of the deployment's root directory.
    public let path: String
    public let isBooted: Bool
    /// Boots next, ahead of the booted one (a new deployment awaiting its reboot).
    public let isPending: Bool
    /// The fallback: what `rollback` would make the default.
    public let isRollback: Bool
    /// Waiting in /run/ostree for ostree-finalize-staged at shutdown.
    public let isStaged: Bool
    public let isPinned: Bool

    /// "3a4f…c2.0": ostree's own name for it.
    public var name: String { "\(checksum).\(serial)" }
}
