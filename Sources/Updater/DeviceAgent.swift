import ComposeApps
import FoundationEssentials
import HTTP
import OCI
import OSTree
import OtterCrypto
import SystemdNotify
import TUF

/// Everything the device side needs, built from the configuration: the state database, the OS,
/// apps, bootloader, health and reporting adapters, the Target feed, and the `Updater` over
/// them. The CLI verbs and the daemon start here.
public struct DeviceAgent: Sendable {
    public struct Options: Sendable {
        /// `otter rollback --no-reboot`, or a configuration that never reboots by itself.
        public var neverReboot: Bool
        /// TEST ONLY (`OTTER_SIMULATED_BOOT_FILE`): the file that says which commit "booted" on a
        /// throw-away sysroot (see `SimulatedBoot`).
        public var simulatedBootFile: String?
        public var environment: [String: String]
        /// The system clock, or TEST ONLY (`OTTER_TEST_NOW`) a fixed one (see `TestClock`).
        public var clock: any UpdateClock

        public init(neverReboot: Bool = false, simulatedBootFile: String? = nil,
                    environment: [String: String] = ProcessInfo.processInfo.environment) {
            self.neverReboot = neverReboot
            self.simulatedBootFile = simulatedBootFile ?? environment["OTTER_SIMULATED_BOOT_FILE"]
            self.environment = environment
            clock = TestClock.fromEnvironment(environment) ?? SystemClock()
        }
    }

    public let configuration: OtterConfiguration
    public let updater: Updater
    /// Compose apps over the container engine, or `DisabledAppsBackend` with `[apps] enabled = false`.
    public let apps: any AppsBackend
    public let notifier: SystemdNotifier
    public let store: StateStore
    public let clock: any UpdateClock

    public init(configuration config: OtterConfiguration, options: Options = Options()) throws {
        configuration = config
        guard let hardwareID = config.device.hardwareID else {
            throw UpdaterError("no hardware id is configured: set [device] hardware_id in /etc/otter/conf.d/*.toml (`otter register` writes it)")
        }
        guard let tufURL = config.servers.tufURL else {
            throw UpdaterError("no TUF repository is configured: set [servers] tuf_url in /etc/otter/conf.d/*.toml")
        }
        let store = try StateStore.open(path: config.paths.stateDatabase)
        self.store = store
        clock = options.clock

        var tls = HTTPClient.TLS()
        tls.caBundlePath = config.servers.tlsCACertificate
        tls.clientCertificatePath = config.servers.tlsClientCertificate
        tls.clientKeyPath = config.servers.tlsClientKey

        let sysroot = config.paths.sysroot
        let booted = sysroot == "/" && FileManager.default.fileExists(atPath: "/run/ostree-booted") && options.simulatedBootFile == nil
        let remote = Remote(name: "otter", url: config.servers.ostreeURL ?? "", tlsClientCertPath: tls.clientCertificatePath,
                            tlsClientKeyPath: tls.clientKeyPath, tlsCAPath: tls.caBundlePath)
        let os = OSTreeSystem(.init(sysroot: sysroot, remote: remote, trustedKeys: try CommitSignature.loadDeviceTrustedKeys(root: sysroot),
                                    osname: config.update.osName, deployMode: booted ? .staged : .immediate,
                                    simulatedBootFile: options.simulatedBootFile))

        let apps: any AppsBackend
        var serviceStates: (@Sendable ([String]) async throws -> [AppServiceState])?
        if config.apps.enabled {
            let runtime = ComposeRuntime(configuration: .init(socketPath: config.apps.engineSocket, composeRoot: config.paths.composeRoot,
                                                              composeCommand: config.apps.composeCommand))
            let appStore = try AppStore(root: config.paths.appsRoot, configuration: .init(reserveBytes: Int64(config.apps.reserveBytes)))
            var registry = RegistryAccess(plainHTTPRegistries: config.servers.plainHTTPRegistries,
                                          dockerConfigPath: FileManager.default.fileExists(atPath: HubCredentials.path(config))
                                              ? HubCredentials.path(config) : nil)
            if let gateway = config.servers.gatewayURL, config.servers.tlsClientCertificate != nil {
                // A registry whose token realm is the gateway (`/hub-token`): asked with the device's certificate.
                registry.tokenServices = [RegistryClient.TokenService(urlPrefix: gateway + "/", http: HTTPClient(configuration: .init(tls: tls)))]
            }
            let compose = ComposeAppsBackend(store: appStore, runtime: runtime, registry: registry)
            apps = compose
            serviceStates = { names in try await compose.serviceStates(of: names) }
        } else {
            apps = DisabledAppsBackend(disabledBy: config.apps.disabledBy)
        }
        self.apps = apps

        let bootFlags: any BootFlags = try config.bootloader.bootCounter().map(BootCounterFlags.init) ?? NoBootFlags()
        let health = HealthCheckAdapter(runner: HealthCheckRunner(configuration: config), serviceStates: serviceStates)
        notifier = SystemdNotifier(environment: options.environment)
        let reporter = CallbackReporter(callbacks: CallbackRunner(configuration: config), notifier: notifier, current: {
            (try? store.current()).flatMap { $0 }.map { CallbackTarget(name: $0.name, version: $0.version) }
        })
        let executor = UpdateExecutor(
            store: store, os: os, apps: apps, bootFlags: bootFlags, health: health, reporter: reporter,
            rebooter: CommandRebooter(command: config.update.rebootCommand), clock: options.clock,
            options: ExecutorOptions(rebootAutomatically: config.update.autoReboot && !options.neverReboot,
                                     crashHook: CrashHook.fromEnvironment(options.environment)))

        let transport: any TUFTransport = tufURL.hasPrefix("file://") ? FileTransport()
            : DeviceHeadersTransport(client: HTTPClient(configuration: .init(tls: tls, retry: .init(maxAttempts: 2))),
                                     store: store, tag: config.device.tag)
        let feed = TargetFeed(trustedDirectory: config.paths.tufDirectory,
                              shippedRootDirectory: Self.inside(sysroot, "/usr/lib/otter/tuf"),
                              metadataURL: tufURL, transport: transport,
                              production: Self.isProductionCertificate(tls.clientCertificatePath))
        updater = Updater(executor: executor, source: feed,
                          selection: TargetSelection(hardwareId: hardwareID, tags: config.device.tag.map { [$0] } ?? []))
    }

    /// How far the daemon takes `target` now: all the way inside an update window (or when the
    /// Target ignores windows), else only the download.
    public func milestone(for target: Target) -> UpdateMilestone {
        configuration.update.windows.milestone(for: target, at: clock.now())
    }

    /// The update windows as `otter status` shows them.
    public func windowStatus() -> WindowStatus {
        WindowStatus(configuration.update.windows, at: clock.now())
    }

    /// The `x-ats-*` headers of the device's state now (REFERENCE §3).
    public static func deviceHeaders(current: Target?, tag: String?) -> HTTPHeaders {
        [
            "x-ats-tags": tag ?? "unknown",
            "x-ats-target": current?.name ?? "unknown",
            "x-ats-ostreehash": current?.osCommit ?? "unknown",
            "x-ats-dockerapps": current.map { $0.apps.map(\.name).joined(separator: ",") } ?? "unknown",
        ]
    }

    /// Whether the gateway client certificate carries businessCategory=production; nil without one.
    static func isProductionCertificate(_ path: String?) -> Bool? {
        guard let path, let data = FileManager.default.contents(atPath: path),
              let certificate = try? Certificate(pem: String(decoding: data, as: UTF8.self)) else { return nil }
        return certificate.subject["businessCategory"] == "production"
    }

    static func inside(_ root: String, _ path: String) -> String {
        root == "/" ? path : (root.hasSuffix("/") ? String(root.dropLast()) : root) + path
    }
}

/// The TUF transport of a device: every request carries the `x-ats-*` headers of the state
/// database at that moment, so they follow an update without rebuilding the agent.
struct DeviceHeadersTransport: TUFTransport {
    let client: HTTPClient
    let store: StateStore
    let tag: String?

    func fetch(_ url: String, maxLength: Int) async throws(TUFTransportError) -> [UInt8] {
        let current = (try? store.current()) ?? nil
        return try await HTTPTransport(client: client, headers: DeviceAgent.deviceHeaders(current: current, tag: tag))
            .fetch(url, maxLength: maxLength)
    }
}

/// TEST ONLY: `OTTER_TEST_NOW=<seconds since the epoch>` (or an ISO 8601 UTC time) makes the
/// device's clock stand still at that instant, so tests can put a device inside or outside its
/// update windows. Never set it on a device.
public struct TestClock: UpdateClock {
    public let instant: Date
    public init(_ instant: Date) { self.instant = instant }
    public func now() -> Date { instant }

    static func fromEnvironment(_ environment: [String: String]) -> TestClock? {
        guard let text = environment["OTTER_TEST_NOW"], !text.isEmpty else { return nil }
        if let seconds = Double(text) { return TestClock(Date(timeIntervalSince1970: seconds)) }
        return (try? Date(text, strategy: .iso8601)).map(TestClock.init)
    }
}

extension TargetFeed: TargetSource {
    public func targetFiles() async throws -> [TargetFile] { try await refresh() }
}
