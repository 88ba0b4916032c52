/// How the boot-counting variables are named and used.
public enum BootCountingScheme: String, Sendable, CaseIterable {
    /// U-Boot `CONFIG_BOOTCOUNT_LIMIT` with LmP's boot script (aktualizr's `uboot_masked`):
    /// the bootloader counts `bootcount` only while `upgrade_available=1`, and past `bootlimit`
    /// sets `rollback=1` and boots the previous deployment. Otter's GRUB script uses the same names.
    case upgradeAvailable = "upgrade_available"
    /// greenboot's GRUB variables: `boot_counter` counts *down* the attempts left and becomes -1
    /// when GRUB falls back; `boot_success=1` marks a good boot.
    case greenboot
}

/// The boot-counting flags as the updater reads them after a boot.
public struct BootState: Sendable, Equatable, CustomStringConvertible {
    /// An upgrade is on trial: the bootloader is counting boots.
    public var upgradeAvailable: Bool
    /// Boots counted since `armUpgrade()` (U-Boot scheme).
    public var bootCount: Int
    /// The boots allowed before fallback, when the environment sets one.
    public var bootLimit: Int?
    /// The bootloader gave up on the new deployment and booted the previous one.
    public var rollback: Bool
    /// greenboot's `boot_counter`: attempts left (nil in the U-Boot scheme or when unset).
    public var remainingBootAttempts: Int?

    public init(upgradeAvailable: Bool, bootCount: Int, bootLimit: Int?, rollback: Bool, remainingBootAttempts: Int? = nil) {
        self.upgradeAvailable = upgradeAvailable
        self.bootCount = bootCount
        self.bootLimit = bootLimit
        self.rollback = rollback
        self.remainingBootAttempts = remainingBootAttempts
    }

    /// The count went past the limit: the bootloader falls back (or will at the next boot).
    public var bootLimitExceeded: Bool {
        if let remainingBootAttempts { return remainingBootAttempts < 0 }
        guard let bootLimit else { return false }
        return bootCount > bootLimit
    }

    public var description: String {
        var parts = ["upgrade_available=\(upgradeAvailable ? 1 : 0)", "bootcount=\(bootCount)"]
        parts.append("bootlimit=\(bootLimit.map(String.init) ?? "unset")")
        parts.append("rollback=\(rollback ? 1 : 0)")
        if let remainingBootAttempts { parts.append("boot_counter=\(remainingBootAttempts)") }
        return parts.joined(separator: " ")
    }
}

/// The operations the updater needs, on any backend: arm before rebooting into a new deployment,
/// clear after a passed health check, read the flags after a boot. Only the health verdict should
/// call `markBootSuccessful()`; a committed image then is never rolled back by power cuts, because
/// the bootloader counts only while an upgrade is armed.
public struct BootCounter: Sendable {
    public enum Variable {
        public static let upgradeAvailable = "upgrade_available"
        public static let bootCount = "bootcount"
        public static let bootLimit = "bootlimit"
        public static let rollback = "rollback"
        public static let greenbootCounter = "boot_counter"
        public static let greenbootSuccess = "boot_success"
    }

    public let environment: any BootloaderEnvironment
    public let scheme: BootCountingScheme
    /// greenboot's `GREENBOOT_MAX_BOOT_ATTEMPTS` (its default is 3).
    public let greenbootMaxBootAttempts: Int

    public init(environment: any BootloaderEnvironment, scheme: BootCountingScheme = .upgradeAvailable, greenbootMaxBootAttempts: Int = 3) {
        self.environment = environment
        self.scheme = scheme
        self.greenbootMaxBootAttempts = greenbootMaxBootAttempts
    }

    /// Before the reboot into a staged deployment, in one write.
    public func armUpgrade() throws {
        switch scheme {
        case .upgradeAvailable:
            try environment.apply([Variable.upgradeAvailable: "1", Variable.bootCount: "0", Variable.rollback: "0"])
        case .greenboot:
            try environment.apply([Variable.greenbootCounter: String(greenbootMaxBootAttempts), Variable.greenbootSuccess: "0"])
        }
    }

    /// After the health check passed on the new deployment.
    public func markBootSuccessful() throws {
        switch scheme {
        case .upgradeAvailable:
            try environment.apply([Variable.bootCount: "0", Variable.upgradeAvailable: "0"])
        case .greenboot:
            try environment.apply([Variable.greenbootSuccess: "1", Variable.greenbootCounter: nil])
        }
    }

    public func state() throws -> BootState {
        let names = switch scheme {
        case .upgradeAvailable: [Variable.upgradeAvailable, Variable.bootCount, Variable.bootLimit, Variable.rollback]
        case .greenboot: [Variable.greenbootCounter, Variable.greenbootSuccess]
        }
        let snapshot = try environment.values(of: names)
        func integer(_ name: String) throws -> Int? { try Self.integer(name, snapshot[name]) }
        func flag(_ name: String) throws -> Bool { try Self.flag(name, snapshot[name]) }
        switch scheme {
        case .upgradeAvailable:
            return BootState(
                upgradeAvailable: try flag(Variable.upgradeAvailable),
                bootCount: try integer(Variable.bootCount) ?? 0,
                bootLimit: try integer(Variable.bootLimit),
                rollback: try flag(Variable.rollback))
        case .greenboot:
            let counter = try integer(Variable.greenbootCounter)
            let success = try flag(Variable.greenbootSuccess)
            return BootState(
                upgradeAvailable: (counter.map { $0 >= 0 } ?? false) && !success,
                bootCount: counter.map { max(0, greenbootMaxBootAttempts - $0) } ?? 0,
                bootLimit: counter == nil ? nil : greenbootMaxBootAttempts,
                rollback: counter.map { $0 < 0 } ?? false,
                remainingBootAttempts: counter)
        }
    }

    private static func integer(_ name: String, _ value: String?) throws -> Int? {
        guard let text = value, !text.isEmpty else { return nil }
        // U-Boot's setexpr writes hex without a prefix; bootcount stays small, so decimal digits
        // read the same in both bases. Accept an explicit 0x too.
        if text.hasPrefix("0x") || text.hasPrefix("0X"), let v = Int(text.dropFirst(2), radix: 16) { return v }
        guard let v = Int(text) else {
            throw BootloaderError.invalidValue(name: name, value: text, expected: "an integer")
        }
        return v
    }

    private static func flag(_ name: String, _ value: String?) throws -> Bool {
        switch value {
        case nil, "", "0": return false
        case "1": return true
        case let other?: throw BootloaderError.invalidValue(name: name, value: other, expected: "0 or 1")
        }
    }
}
