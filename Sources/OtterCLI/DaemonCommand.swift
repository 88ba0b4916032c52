import ArgumentParser
import FoundationEssentials
import Logging
import ServiceLifecycle
import Updater

/// `otter daemon`: what otter.service runs.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Keep the device up to date: resume after boot, then check → fetch → install → start every poll interval.",
        discussion: """
        The poll interval and jitter come from [update] poll_interval / poll_jitter. Under systemd \
        (NOTIFY_SOCKET set) it reports READY, STATUS and WATCHDOG. SIGTERM or SIGINT stops it \
        between steps: an update in progress is recorded step by step and resumes at the next start.
        """)

    @OptionGroup var device: DeviceOptions

    @Option(help: ArgumentHelp("Stop after this many checks (tests and benchmarks).", visibility: .hidden))
    var cycles: Int?

    @Option(help: ArgumentHelp("Override the poll interval in seconds (tests and benchmarks).", visibility: .hidden))
    var interval: Double?

    func run() async throws {
        try await reportingErrors {
            LoggingSystem.bootstrap(StreamLogHandler.standardError)
            let agent = try device.agent()
            let root = device.global.sysroot
            let directories = device.configDirectories.isEmpty ? nil : device.configDirectories
            var logger = Logger(label: "otter")
            logger.logLevel = ProcessInfo.processInfo.environment["OTTER_DEBUG"] == nil ? .info : .debug
            let loop = UpdateLoop(agent: agent, reload: { try DeviceAgent(configuration: OtterConfiguration.load(root: root, directories: directories)) }, logger: logger, cycles: cycles,
                                  interval: interval.map { .milliseconds(Int64($0 * 1000)) })
            // The loop returns only after --cycles (or a shutdown): the daemon then exits 0.
            let group = ServiceGroup(configuration: .init(services: [.init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup)],
                                                          gracefulShutdownSignals: [.sigterm, .sigint],
                                                          logger: logger))
            try await group.run()
        }
    }
}

/// The daemon's one service: a poll loop that stops at a graceful shutdown. Each check first
/// syncs the gateway's device config (reloading the configuration when it changed), installs
/// only inside the update windows (fetching at any time), then reports to the gateway.
struct UpdateLoop: Service {
    let agent: DeviceAgent
    /// Builds the agent again from the configuration files.
    let reload: @Sendable () throws -> DeviceAgent
    let logger: Logger
    let cycles: Int?
    let interval: Duration?

    func run() async throws {
        let notifier = agent.notifier
        let watchdog = Task { await notifier.keepWatchdogFed { logger.warning("sd_notify: \($0)") } }
        defer { watchdog.cancel() }

        logger.info("otter daemon: started")
        var agent = agent
        await step("resume") { [agent] in try await agent.updater.resumeAfterBoot(until: agent.milestone(for:)) }
        try? notifier.ready(status: "idle")
        var reports = GatewayReportState()
        var done = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let sync = DeviceConfigSync(configuration: agent.configuration) {
                do {
                    if try await sync.sync() {
                        agent = try reload()
                        logger.info("device config from the gateway applied: \(agent.windowStatus().line)")
                    }
                } catch {
                    logger.error("device config: \(error)")
                }
            }
            if let renewer = CertificateRenewer(configuration: agent.configuration),
               (try? renewer.isDue(at: agent.clock.now(), withinDays: agent.configuration.servers.certificateRenewDays)) == true {
                do {
                    let issued = try await renewer.renew()
                    agent = try reload()
                    logger.info("device certificate renewed; it expires \(Date(timeIntervalSince1970: Double(issued.notAfter)))")
                } catch {
                    logger.error("certificate renewal: \(error)")
                }
            }
            let credentials = HubCredentials.path(agent.configuration)
            let hadCredentials = FileManager.default.fileExists(atPath: credentials)
            do { try await HubCredentials.refresh(agent.configuration) } catch { logger.warning("registry credentials: \(error)") }
            if FileManager.default.fileExists(atPath: credentials) != hadCredentials, let fresh = try? reload() { agent = fresh }
            logger.debug("checking for updates")
            await step("update") { [agent] in try await agent.updater.update(until: agent.milestone(for:)) }
            for failure in await reports.report(agent) { logger.warning("gateway report \(failure)") }
            done += 1
            if let cycles, done >= cycles { break }
            let delay = interval ?? agent.configuration.update.nextPollDelay()
            try? notifier.status("idle; next check in \(Int(delay.components.seconds)) s")
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) } } catch { break }
        }
        try? notifier.stopping(status: "stopping")
    }

    /// One updater call: its result is logged, an error never ends the daemon.
    private func step(_ name: String, _ body: () async throws -> UpdateResult) async {
        do {
            let result = try await body()
            switch result {
            case .finished(.idle), .alreadyCurrent: logger.debug("\(name): \(result)")
            default: logger.info("\(name): \(result)")
            }
        } catch {
            logger.error("\(name) failed: \(error)")
        }
    }
}
