/// A bootloader's variable store: the U-Boot environment, a GRUB `grubenv`, a plain file, or a
/// user's script. Backends only read and write variables; the boot-counting policy on top of them
/// is `BootCounter`, so every backend gets the same semantics.
public protocol BootloaderEnvironment: Sendable {
    /// A short name for messages ("uboot", "grub", …).
    var backendName: String { get }

    /// Every variable, as the bootloader will see it at the next boot.
    func variables() throws -> [String: String]

    /// One variable, or nil when it is not set.
    func value(of name: String) throws -> String?

    /// Several variables from one read, so they come from the same copy of the environment.
    func values(of names: [String]) throws -> [String: String]

    /// Sets (non-nil value) and unsets (nil) variables in one write, so a power cut leaves either
    /// all or none of the changes where the format allows it (redundant U-Boot env, grubenv rename).
    func apply(_ changes: [String: String?]) throws
}

extension BootloaderEnvironment {
    public func value(of name: String) throws -> String? {
        try variables()[name]
    }

    public func values(of names: [String]) throws -> [String: String] {
        try variables().filter { names.contains($0.key) }
    }

    public func set(_ name: String, to value: String) throws {
        try apply([name: value])
    }

    public func unset(_ name: String) throws {
        try apply([name: nil])
    }

    /// `upgrade_available=1, bootcount=0, rollback=0` (U-Boot variables).
    public func armUpgrade() throws { try BootCounter(environment: self).armUpgrade() }

    /// `bootcount=0, upgrade_available=0` (U-Boot variables).
    public func markBootSuccessful() throws { try BootCounter(environment: self).markBootSuccessful() }

    public func state() throws -> BootState { try BootCounter(environment: self).state() }
}

/// Variable names shared by every backend: names are non-empty and contain neither `=` nor a
/// NUL or newline (the separators of the U-Boot, GRUB and plain-file formats).
enum VariableName {
    static func validate(_ name: String) throws {
        if name.isEmpty { throw BootloaderError.invalidVariable(name: name, detail: "empty") }
        if name.contains("=") { throw BootloaderError.invalidVariable(name: name, detail: "contains '='") }
        if name.utf8.contains(0) || name.contains("\n") {
            throw BootloaderError.invalidVariable(name: name, detail: "contains a NUL or newline")
        }
    }

    /// Applies `changes` to `variables` after validating every name, so a bad name changes nothing.
    static func merge(_ changes: [String: String?], into variables: inout [String: String]) throws {
        for name in changes.keys { try validate(name) }
        for (name, value) in changes {
            if let value { variables[name] = value } else { variables.removeValue(forKey: name) }
        }
    }
}
