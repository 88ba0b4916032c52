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
            var logger = Logger(label: "otter")
            logger.logLevel = ProcessInfo.processInfo.environment["OTTER_DEBUG"] == nil ? .info : .debug
            let loop = UpdateLoop(agent: agent, logger: logger, cycles: cycles,
                                  interval: interval.map { .milliseconds(Int64($0 * 1000)) })
            let group = ServiceGroup(configuration: .init(services: [loop], gracefulShutdownSignals: [.sigterm, .sigint],
                                                          logger: logger))
            try await group.run()
        }
    }
}

/// The daemon's one service: a poll loop that stops at a graceful shutdown.
struct UpdateLoop: Service {
    let agent: DeviceAgent
    let logger: Logger
    let cycles: Int?
    let interval: Duration?

    func run() async throws {
        let notifier = agent.notifier
        let watchdog = Task { await notifier.keepWatchdogFed { logger.warning("sd_notify: \($0)") } }
        defer { watchdog.cancel() }

        logger.info("otter daemon: started")
        await step("resume") { try await agent.updater.resumeAfterBoot() }
        try? notifier.ready(status: "idle")
        var done = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            logger.debug("checking for updates")
            await step("update") { try await agent.updater.update() }
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
