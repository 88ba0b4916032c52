/// The U-Boot environment on a device or an image file, located by `fw_env.config`, read and
/// written in U-Boot's binary format directly (no fw_setenv process per variable), compatible
/// byte for byte with `mkenvimage`, `fw_printenv` and `fw_setenv`.
///
/// With two copies (a redundant environment) a write goes to the copy that is *not* current and
/// carries the current flags counter plus one, so a power cut in the middle leaves the old copy
/// current and intact. A single environment can only be rewritten in place.
public struct UBootEnvironment: BootloaderEnvironment {
    public let config: FWEnvConfig
    /// Where the config was read from, for messages.
    public let configPath: String?
    /// The lock file shared with `fw_printenv`/`fw_setenv` (libubootenv and U-Boot's tools both
    /// use `/var/lock/fw_printenv.lock`); nil takes no lock.
    public let lockPath: String?

    public static let toolsLockPath = "/var/lock/fw_printenv.lock"

    public var backendName: String { "uboot" }

    public init(config: FWEnvConfig, configPath: String? = nil, lockPath: String? = UBootEnvironment.toolsLockPath) {
        self.config = config
        self.configPath = configPath
        self.lockPath = lockPath
    }

    /// Reads `fw_env.config` (the default location of the tools is `/etc/fw_env.config`).
    public init(configPath: String = "/etc/fw_env.config", lockPath: String? = UBootEnvironment.toolsLockPath) throws {
        self.init(config: try FWEnvConfig(contentsOf: configPath), configPath: configPath, lockPath: lockPath)
    }

    /// What each copy holds, so a caller can report a damaged copy while the other one still works.
    public struct Status: Sendable, Equatable {
        public enum Copy: Sendable, Equatable {
            case valid(flags: UInt8?)
            case corrupt(String)

            public var isValid: Bool { if case .valid = self { true } else { false } }
        }

        public var copies: [Copy]
        /// The index into `copies` U-Boot boots with, nil when no copy is valid.
        public var current: Int?
    }

    public func status() throws -> Status {
        try EnvironmentFile.withLock(lockPath) { try load().status }
    }

    public func variables() throws -> [String: String] {
        let loaded = try EnvironmentFile.withLock(lockPath) { try load() }
        guard let current = loaded.status.current, let image = loaded.images[current] else {
            throw corruptError(loaded.status)
        }
        return image.variables
    }

    public func apply(_ changes: [String: String?]) throws {
        try EnvironmentFile.withLock(lockPath) {
            let loaded = try load()
            guard let current = loaded.status.current, var image = loaded.images[current] else {
                throw corruptError(loaded.status)
            }
            let before = image.variables
            try VariableName.merge(changes, into: &image.variables)
            // Flash wears, and the updater repeats idempotent steps after a restart.
            if image.variables == before && loaded.status.copies.allSatisfy(\.isValid) { return }
            let target = config.isRedundant ? 1 - current : current
            if let flags = image.flags { image.flags = flags &+ 1 }
            try write(image, toCopy: target)
        }
    }

    /// Writes a fresh environment to every copy — the explicit repair for an environment whose
    /// copies are all corrupt (what `mkenvimage` + `dd` would do). Copy 0 becomes current.
    public func reinitialize(with variables: [String: String]) throws {
        var image = UBootEnvironmentImage(variables: [:], flags: nil)
        try VariableName.merge(variables.mapValues { Optional($0) }, into: &image.variables)
        try EnvironmentFile.withLock(lockPath) {
            for index in config.copies.indices.reversed() {
                if config.isRedundant { image.flags = index == 0 ? 1 : 0 }
                try write(image, toCopy: index)
            }
        }
    }

    private func write(_ image: UBootEnvironmentImage, toCopy index: Int) throws {
        let copy = config.copies[index]
        let bytes = try image.encode(size: copy.size, path: describe(copy))
        try EnvironmentFile.overwrite(bytes, in: copy.device, offset: copy.offset)
    }

    private struct Loaded {
        var images: [UBootEnvironmentImage?]
        var status: Status
    }

    private func load() throws -> Loaded {
        var images: [UBootEnvironmentImage?] = []
        var copies: [Status.Copy] = []
        for copy in config.copies {
            let bytes = try EnvironmentFile.readRange(copy.device, offset: copy.offset, count: copy.size)
            switch UBootEnvironmentImage.decode(bytes, redundant: config.isRedundant) {
            case .success(let image):
                images.append(image)
                copies.append(.valid(flags: image.flags))
            case .failure(let corrupt):
                images.append(nil)
                copies.append(.corrupt(corrupt.detail))
            }
        }
        return Loaded(images: images, status: Status(copies: copies, current: Self.current(images)))
    }

    /// U-Boot's `env_import_redund` rule: the valid copy with the higher counter, where 0 follows
    /// 255 (the counter wraps); equal counters pick the first copy.
    static func current(_ images: [UBootEnvironmentImage?]) -> Int? {
        switch (images.first ?? nil, images.count > 1 ? images[1] : nil) {
        case (nil, nil): return nil
        case (_?, nil): return 0
        case (nil, _?): return 1
        case let (first?, second?):
            let a = first.flags ?? 0
            let b = second.flags ?? 0
            if a == 255 && b == 0 { return 1 }
            if a == 0 && b == 255 { return 0 }
            return b > a ? 1 : 0
        }
    }

    private func corruptError(_ status: Status) -> BootloaderError {
        let details = zip(config.copies, status.copies).map { copy, state -> String in
            if case .corrupt(let detail) = state { return "\(describe(copy)): \(detail)" }
            return "\(describe(copy)): valid"
        }
        let fix = configPath.map { "; `fw_printenv -c \($0)` shows the same" } ?? ""
        return .corruptEnvironment(path: configPath ?? config.copies[0].device,
                                   detail: details.joined(separator: "; ") + fix)
    }

    private func describe(_ copy: FWEnvConfig.Copy) -> String {
        "\(copy.device) at 0x\(String(copy.offset, radix: 16)) (0x\(String(copy.size, radix: 16)) bytes)"
    }
}
