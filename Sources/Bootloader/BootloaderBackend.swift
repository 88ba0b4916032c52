/// The dispatcher (RAUC's bootchooser): a backend chosen by its config name.
public enum BootloaderBackend: String, Sendable, CaseIterable {
    /// `path` is an `fw_env.config` file.
    case uboot
    /// `path` is the `grubenv` file (e.g. `/boot/grub/grubenv`, `/boot/efi/EFI/debian/grubenv`).
    case grub
    /// `path` is a `name=value` text file.
    case file
    /// `path` is an executable taking `get NAME` / `set NAME VALUE` / `unset NAME`.
    case custom

    public init(name: String) throws {
        guard let backend = BootloaderBackend(rawValue: name.lowercased()) else {
            throw BootloaderError.unknownBackend(name)
        }
        self = backend
    }

    /// Opens the environment; a U-Boot config is read (and checked) now, the variables at each call.
    public func environment(path: String) throws -> any BootloaderEnvironment {
        switch self {
        case .uboot: return try UBootEnvironment(configPath: path)
        case .grub: return GRUBEnvironment(path: path)
        case .file: return PlainFileEnvironment(path: path)
        case .custom: return CustomEnvironment(script: path)
        }
    }

    /// From config: `[bootloader] type = "uboot"`, `path = "/etc/fw_env.config"`, and the scheme
    /// (`upgrade_available`, the default, or `greenboot`).
    public static func bootCounter(type: String, path: String, scheme: String? = nil) throws -> BootCounter {
        let environment = try BootloaderBackend(name: type).environment(path: path)
        guard let scheme else { return BootCounter(environment: environment) }
        guard let counting = BootCountingScheme(rawValue: scheme) else {
            throw BootloaderError.invalidConfiguration(path: path, line: 0,
                detail: "unknown boot-counting scheme \"\(scheme)\"; use \(BootCountingScheme.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        return BootCounter(environment: environment, scheme: counting)
    }
}
