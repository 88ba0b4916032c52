import Bootloader
import FoundationEssentials
import HTTP

/// The device's settings, merged from TOML fragments: `/usr/lib/otter/conf.d/*.toml` (the image's
/// defaults), then `/var/lib/otter/conf.d/*.toml` (what the gateway's `GET /config` delivered),
/// then `/etc/otter/conf.d/*.toml` (the device's own); within a directory files apply in
/// name order, and a later file overrides an earlier one key by key. Every key is documented in
/// `config/otter.toml.example`.
///
/// `root` is a sysroot prefix (like `ostree --sysroot`, `systemctl --root`): the conf.d directories
/// and every file or directory setting below (defaults and values from files alike) are taken
/// inside it, so a test or an image builder works on a throw-away tree with the device's own
/// absolute paths. Commands (`reboot_command`, `compose_command`), URLs and the engine socket are
/// used as written.
public struct OtterConfiguration: Sendable, Equatable {
    public struct Device: Sendable, Equatable {
        /// Targets are considered only when their `hardwareIds` contain this.
        public var hardwareID: String?
        /// Targets are considered only when their `tags` contain this.
        public var tag: String?
        /// A human name for status output and the backend.
        public var name: String?
    }

    public struct Paths: Sendable, Equatable {
        /// The OSTree sysroot (`/` on a device).
        public var sysroot: String
        public var stateDatabase: String
        public var tufDirectory: String
        public var appsRoot: String
        /// Where unpacked compose projects live (one directory per app).
        public var composeRoot: String
        /// The TOML file that `CURRENT_TARGET` names for callbacks.
        public var currentTargetFile: String
        public var certificatesDirectory: String
    }

    public struct Servers: Sendable, Equatable {
        public var tufURL: String?
        public var ostreeURL: String?
        /// The OCI registry host (`host` or `host:port`) app references point at.
        public var registry: String?
        /// Registry hosts spoken to over plain HTTP (tests and local mirrors only).
        public var plainHTTPRegistries: [String]
        public var tlsClientCertificate: String?
        public var tlsClientKey: String?
        public var tlsCACertificate: String?
        /// The device gateway (`https://host:port`) of a registered device: `servers.gateway_url`,
        /// else `tuf_url` without its `/repo` when that is https with a client certificate.
        public var gatewayURL: String?
        /// The daemon renews the device certificate when it expires within this many days.
        public var certificateRenewDays: Int

        /// The device's TLS settings (mTLS with the gateway once registered).
        public var tls: HTTPClient.TLS {
            HTTPClient.TLS(caBundlePath: tlsCACertificate, clientCertificatePath: tlsClientCertificate, clientKeyPath: tlsClientKey)
        }
    }

    public struct Update: Sendable, Equatable {
        public var pollInterval: Duration
        /// Each poll waits `pollInterval` plus a random 0…`pollJitter`, so a fleet does not call in together.
        public var pollJitter: Duration
        /// Reboot by itself when a new OS is staged; otherwise report "reboot needed".
        public var autoReboot: Bool
        public var rebootCommand: [String]
        /// The OSTree osname deployments are made under; nil = the booted deployment's.
        public var osName: String?
        /// When the daemon may install, start apps and reboot (`[update] windows`); none = always.
        public var windows: UpdateWindows

        /// The wait before the next poll: the interval plus a uniform random part of the jitter.
        public func nextPollDelay<Generator: RandomNumberGenerator>(using generator: inout Generator) -> Duration {
            let jitterMilliseconds = Int64(pollJitter.secondsValue * 1000)
            guard jitterMilliseconds > 0 else { return pollInterval }
            return pollInterval + .milliseconds(Int64.random(in: 0...jitterMilliseconds, using: &generator))
        }

        public func nextPollDelay() -> Duration {
            var generator = SystemRandomNumberGenerator()
            return nextPollDelay(using: &generator)
        }
    }

    public struct Health: Sendable, Equatable {
        /// The whole check: apps coming up, then every check script.
        public var timeout: Duration
        public var perCheckTimeout: Duration
        /// Between SIGTERM and SIGKILL when a check overruns.
        public var killGrace: Duration
        public var outputTailBytes: Int
        public var requiredDirectories: [String]
        public var wantedDirectories: [String]
        public var greenDirectories: [String]
        public var redDirectories: [String]
        /// greenboot roots: `check/required.d`, `check/wanted.d`, `green.d` and `red.d` under each
        /// run after Otter's own, the greenboot way (every `*.sh`, through `greenbootShell`).
        public var greenbootDirectories: [String]
        public var greenbootShell: String
    }

    public struct BootloaderSettings: Sendable, Equatable {
        /// nil for `backend = "none"`: no boot counting (a board without one, or a container).
        public var backend: BootloaderBackend?
        public var fwEnvConfig: String
        public var grubenv: String
        public var file: String
        public var customScript: String?
        /// nil = the Bootloader module's default (`upgrade_available`).
        public var scheme: BootCountingScheme?

        /// The path the chosen backend opens.
        public var environmentPath: String? {
            switch backend {
            case .uboot: fwEnvConfig
            case .grub: grubenv
            case .file: file
            case .custom: customScript
            case nil: nil
            }
        }

        /// The boot counter of the chosen backend; nil when the backend is `none`.
        public func bootCounter() throws -> BootCounter? {
            guard let backend, let path = environmentPath else { return nil }
            let environment = try backend.environment(path: path)
            return scheme.map { BootCounter(environment: environment, scheme: $0) } ?? BootCounter(environment: environment)
        }
    }

    public struct Callbacks: Sendable, Equatable {
        public var program: String?
        public var timeout: Duration
    }

    public struct Apps: Sendable, Equatable {
        /// `[apps] enabled = false`: an OS-only device. No container engine is spoken to, nothing
        /// runs as apps, and a Target that names apps is refused (see `DisabledAppsBackend`).
        public var enabled: Bool
        /// The fragment that turned apps off, for the refusal message.
        public var disabledBy: String?
        public var engineSocket: String
        public var composeCommand: [String]
        /// Free space the app store keeps on its volume beyond what a fetch needs.
        public var reserveBytes: Int
    }

    public var root: String
    public var device: Device
    public var paths: Paths
    public var servers: Servers
    public var update: Update
    public var health: Health
    public var bootloader: BootloaderSettings
    public var callbacks: Callbacks
    public var apps: Apps
    /// The fragments read, in the order applied.
    public var files: [String]
    /// Keys nobody reads; the caller logs them.
    public var warnings: [OtterConfigurationWarning]

    public static let libraryDirectory = "/usr/lib/otter/conf.d"
    public static let etcDirectory = "/etc/otter/conf.d"
    /// Written by the daemon from the gateway's device config (`GET /config`).
    public static let gatewayDirectory = "/var/lib/otter/conf.d"

    /// The conf.d directories under `root`, lowest precedence first.
    public static func directories(root: String = "/") -> [String] {
        [libraryDirectory, gatewayDirectory, etcDirectory].map { resolve($0, under: root) }
    }

    /// Loads the fragments of `directories` (default: the two conf.d directories under `root`).
    /// No file at all gives the defaults. Syntax errors, wrong types and invalid values throw;
    /// unknown keys end up in `warnings`.
    public static func load(root: String = "/", directories: [String]? = nil) throws(OtterConfigurationError) -> OtterConfiguration {
        var fragments = try ConfigurationFragments(directories: directories ?? Self.directories(root: root))
        var configuration = try OtterConfiguration(reading: &fragments, root: root)
        configuration.files = fragments.files
        configuration.warnings = fragments.unconsumed.map { OtterConfigurationWarning(file: $0.file, key: $0.key) }
        return configuration
    }

    /// The settings with no file at all.
    public static func defaults(root: String = "/") -> OtterConfiguration {
        // No fragments: nothing can be of the wrong type.
        try! load(root: root, directories: [])
    }

    private init(reading f: inout ConfigurationFragments, root: String) throws(OtterConfigurationError) {
        let root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        func under(_ path: String) -> String { Self.resolve(path, under: root) }
        self.root = root
        files = []
        warnings = []

        device = Device(hardwareID: try f.string("device.hardware_id"),
                        tag: try f.string("device.tag"),
                        name: try f.string("device.name"))

        paths = Paths(sysroot: under(try f.path("paths.sysroot") ?? "/"),
                      stateDatabase: under(try f.path("paths.state_db") ?? "/var/lib/otter/state.db"),
                      tufDirectory: under(try f.path("paths.tuf_dir") ?? "/var/lib/otter/tuf"),
                      appsRoot: under(try f.path("paths.apps_root") ?? "/var/lib/otter/apps"),
                      composeRoot: under(try f.path("paths.compose_root") ?? "/var/lib/otter/compose"),
                      currentTargetFile: under(try f.path("paths.current_target") ?? "/var/lib/otter/current-target"),
                      certificatesDirectory: under(try f.path("paths.certs_dir") ?? "/var/lib/otter/certs"))

        servers = Servers(tufURL: try f.url("servers.tuf_url"),
                          ostreeURL: try f.url("servers.ostree_url"),
                          registry: try f.string("servers.registry"),
                          plainHTTPRegistries: try f.strings("servers.plain_http_registries") ?? [],
                          tlsClientCertificate: try f.path("servers.tls_client_cert").map(under),
                          tlsClientKey: try f.path("servers.tls_client_key").map(under),
                          tlsCACertificate: try f.path("servers.tls_ca").map(under),
                          gatewayURL: nil,
                          certificateRenewDays: try f.integer("servers.cert_renew_days") ?? 30)
        if let url = try f.url("servers.gateway_url") {
            servers.gatewayURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        } else if let tuf = servers.tufURL, tuf.hasPrefix("https://"), servers.tlsClientCertificate != nil {
            let trimmed = tuf.hasSuffix("/") ? String(tuf.dropLast()) : tuf
            if trimmed.hasSuffix("/repo") { servers.gatewayURL = String(trimmed.dropLast(5)) }
        }

        let rebootCommand = try f.strings("update.reboot_command") ?? ["/sbin/reboot"]
        if rebootCommand.isEmpty {
            throw .invalidValue(file: f.entries["update.reboot_command"]!.file, key: "update.reboot_command",
                                value: "[]", expected: "a program and its arguments, e.g. [\"/sbin/reboot\"]")
        }
        update = Update(pollInterval: try f.seconds("update.poll_interval", minimum: 1) ?? .seconds(300),
                        pollJitter: try f.seconds("update.poll_jitter") ?? .seconds(30),
                        autoReboot: try f.boolean("update.auto_reboot") ?? false,
                        rebootCommand: rebootCommand,
                        osName: try f.string("update.os"),
                        windows: try Self.windows(&f))

        let tailKiB = try f.integer("health.output_tail_kib") ?? 16
        if tailKiB < 0 {
            throw .invalidValue(file: f.entries["health.output_tail_kib"]!.file, key: "health.output_tail_kib",
                                value: "\(tailKiB)", expected: "0 KiB or more")
        }
        health = Health(timeout: try f.seconds("health.timeout", minimum: 0.001) ?? .seconds(300),
                        perCheckTimeout: try f.seconds("health.per_check_timeout", minimum: 0.001) ?? .seconds(60),
                        killGrace: try f.seconds("health.kill_grace") ?? .seconds(5),
                        outputTailBytes: tailKiB * 1024,
                        requiredDirectories: (try f.paths("health.required_dirs") ?? ["/etc/otter/health/required.d"]).map(under),
                        wantedDirectories: (try f.paths("health.wanted_dirs") ?? ["/etc/otter/health/wanted.d"]).map(under),
                        greenDirectories: (try f.paths("health.green_dirs") ?? ["/etc/otter/health/green.d"]).map(under),
                        redDirectories: (try f.paths("health.red_dirs") ?? ["/etc/otter/health/red.d"]).map(under),
                        greenbootDirectories: (try f.paths("health.greenboot_dirs") ?? ["/usr/lib/greenboot", "/etc/greenboot"]).map(under),
                        greenbootShell: try f.path("health.greenboot_shell") ?? "/bin/bash")

        let backendName = try f.choice("bootloader.backend", BootloaderBackend.allCases.map(\.rawValue) + ["none"]) ?? "none"
        let schemeName = try f.choice("bootloader.scheme", BootCountingScheme.allCases.map(\.rawValue))
        bootloader = BootloaderSettings(backend: BootloaderBackend(rawValue: backendName),
                                        fwEnvConfig: under(try f.path("bootloader.fw_env_config") ?? "/etc/fw_env.config"),
                                        grubenv: under(try f.path("bootloader.grubenv") ?? "/boot/grub/grubenv"),
                                        file: under(try f.path("bootloader.file") ?? "/var/lib/otter/bootloader.env"),
                                        customScript: try f.path("bootloader.custom_script").map(under),
                                        scheme: schemeName.flatMap(BootCountingScheme.init(rawValue:)))
        if bootloader.backend == .custom && bootloader.customScript == nil {
            throw .missing(key: "bootloader.custom_script", because: "bootloader.backend is \"custom\"")
        }

        callbacks = Callbacks(program: try f.path("callbacks.program").map(under),
                              timeout: try f.seconds("callbacks.timeout", minimum: 0.001) ?? .seconds(60))

        let composeCommand = try f.strings("apps.compose_command") ?? ["docker-compose"]
        if composeCommand.isEmpty {
            throw .invalidValue(file: f.entries["apps.compose_command"]!.file, key: "apps.compose_command",
                                value: "[]", expected: "a program and its arguments, e.g. [\"docker-compose\"]")
        }
        let reserve = try f.integer("apps.reserve_bytes") ?? 64 * 1024 * 1024
        if reserve < 0 {
            throw .invalidValue(file: f.entries["apps.reserve_bytes"]!.file, key: "apps.reserve_bytes",
                                value: "\(reserve)", expected: "0 bytes or more")
        }
        let appsEnabled = try f.boolean("apps.enabled") ?? true
        apps = Apps(enabled: appsEnabled,
                    disabledBy: appsEnabled ? nil : f.entries["apps.enabled"]?.file,
                    engineSocket: try f.path("apps.engine_socket") ?? "/var/run/docker.sock",
                    composeCommand: composeCommand,
                    reserveBytes: reserve)
    }

    private static func windows(_ f: inout ConfigurationFragments) throws(OtterConfigurationError) -> UpdateWindows {
        guard let specs = try f.strings("update.windows") else { return .always }
        do {
            return try UpdateWindows(parsing: specs)
        } catch {
            throw .invalidValue(file: f.entries["update.windows"]!.file, key: "update.windows", value: "\(specs)",
                                expected: "\(error)")
        }
    }

    static func resolve(_ path: String, under root: String) -> String {
        guard root != "/", !root.isEmpty else { return path }
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path == "/" ? base : base + path
    }
}

extension ConfigurationFragments {
    /// An http or https URL, or a file:// one (updates from a local disk or USB stick: the TUF
    /// client reads it through its FileTransport, libostree pulls file:// remotes).
    mutating func url(_ key: String) throws(OtterConfigurationError) -> String? {
        guard let value = try string(key) else { return nil }
        guard value.hasPrefix("http://") || value.hasPrefix("https://") || value.hasPrefix("file:///") else {
            throw .invalidValue(file: entries[key]!.file, key: key, value: "\"\(value)\"", expected: "an http://, https:// or file:/// URL")
        }
        return value
    }
}
