#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FoundationEssentials
import Logging
import ServiceLifecycle
import SystemdNotify
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

        Between checks only a small supervisor stays in memory: `otter daemon` replaces itself \
        (same PID) with otter-supervisor, found next to `otter` or in ../libexec/otter, which runs \
        every check as a child `otter` process that exits when the check is done. A check that \
        crashes is logged and the next one runs at the next poll. --in-process keeps everything in \
        this process instead (more memory while idle).
        """)

    @OptionGroup var device: DeviceOptions

    @Flag(help: "Run every check inside this process instead of a child process per check (the daemon then keeps about 35 MB while idle instead of about 10).")
    var inProcess = false

    @Option(help: ArgumentHelp("Stop after this many checks (tests and benchmarks).", visibility: .hidden))
    var cycles: Int?

    @Option(help: ArgumentHelp("Override the poll interval in seconds (tests and benchmarks).", visibility: .hidden))
    var interval: Double?

    @Option(help: ArgumentHelp("Run one check for otter-supervisor, keeping state in this directory.", visibility: .hidden))
    var checkOnce: String?

    @Flag(help: ArgumentHelp("With --check-once: only finish what the last boot left (the daemon's start).", visibility: .hidden))
    var resumeOnly = false

    func run() async throws {
        try await reportingErrors {
            if checkOnce == nil, !inProcess, let supervisor = SupervisorHandoff.locate() {
                try SupervisorHandoff.exec(supervisor, cycles: cycles, interval: interval)
            }
            LoggingSystem.bootstrap(StreamLogHandler.standardError)
            let agent = try device.agent()
            let root = device.global.sysroot
            let directories = device.configDirectories.isEmpty ? nil : device.configDirectories
            var logger = Logger(label: "otter")
            logger.logLevel = ProcessInfo.processInfo.environment["OTTER_DEBUG"] == nil ? .info : .debug
            let mode: UpdateLoop.Mode
            if let checkOnce {
                mode = resumeOnly ? .resumeOnly : .checkOnce(stateDirectory: checkOnce)
            } else {
                mode = .loop
                if !inProcess { logger.warning("otter-supervisor is neither next to otter nor in ../libexec/otter: every check runs in this process") }
            }
            let loop = UpdateLoop(agent: agent, reload: { try DeviceAgent(configuration: OtterConfiguration.load(root: root, directories: directories)) }, logger: logger, cycles: cycles,
                                  interval: interval.map { .milliseconds(Int64($0 * 1000)) }, mode: mode)
            // The loop returns only after --cycles (or a shutdown): the daemon then exits 0.
            let group = ServiceGroup(configuration: .init(services: [.init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup)],
                                                          gracefulShutdownSignals: [.sigterm, .sigint],
                                                          logger: logger))
            try await group.run()
        }
    }
}

/// `otter daemon` becoming otter-supervisor (execv: the PID systemd watches stays the same).
enum SupervisorHandoff {
    static let name = "otter-supervisor"

    /// otter-supervisor next to this executable, or in ../libexec/otter (an installed /usr/bin/otter).
    static func locate() -> String? {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
              let slash = executable.lastIndex(of: "/") else { return nil }
        let directory = String(executable[..<slash])
        return [directory + "/" + name, directory + "/../libexec/otter/" + name].first { access($0, X_OK) == 0 }
    }

    /// Replaces this process with the supervisor; returns only by throwing.
    static func exec(_ supervisor: String, cycles: Int?, interval: Double?) throws {
        let otter = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var arguments = [name, "--otter", otter]
        if let cycles { arguments += ["--cycles", String(cycles)] }
        if let interval { arguments += ["--interval", String(interval)] }
        // The child runs `otter <these> --check-once DIR`: the same verb and options.
        arguments += ["--"] + CommandLine.arguments.dropFirst()
        var pointers = arguments.map { strdup($0) } + [nil]
        execv(supervisor, &pointers)
        let code = errno
        pointers.forEach { free($0) }
        printError("otter: cannot start \(supervisor): \(String(cString: strerror(code))); `otter daemon --in-process` runs without it")
        throw ExitCode.failure
    }
}

/// The daemon's one service. `.loop` is the whole daemon in one process: resume after boot, then
/// a check every poll interval until a graceful shutdown. otter-supervisor runs the same steps
/// one child process at a time: `.resumeOnly` at its start, then `.checkOnce` per poll, each
/// carrying what was reported to the gateway (and the next poll delay) in its state directory.
/// Each check first syncs the gateway's device config (reloading the configuration when it
/// changed), installs only inside the update windows (fetching at any time), then reports to the
/// gateway.
struct UpdateLoop: Service {
    enum Mode { case loop, resumeOnly, checkOnce(stateDirectory: String) }

    let agent: DeviceAgent
    /// Builds the agent again from the configuration files.
    let reload: @Sendable () throws -> DeviceAgent
    let logger: Logger
    let cycles: Int?
    let interval: Duration?
    var mode: Mode = .loop

    func run() async throws {
        switch mode {
        case .resumeOnly:
            await resume()
        case let .checkOnce(directory):
            var agent = agent
            var reports = ChildCheckState.reports(in: directory)
            await check(&agent, &reports)
            ChildCheckState.save(reports, nextDelay: interval ?? agent.configuration.update.nextPollDelay(), in: directory, logger: logger)
        case .loop:
            try await loop()
        }
    }

    private func resume() async {
        await step("resume") { [agent] in try await agent.updater.resumeAfterBoot(until: agent.milestone(for:)) }
    }

    private func loop() async throws {
        let notifier = agent.notifier
        let watchdog = Task { await notifier.keepWatchdogFed { logger.warning("sd_notify: \($0)") } }
        defer { watchdog.cancel() }

        logger.info("otter daemon: started")
        var agent = agent
        await resume()
        try? notifier.ready(status: "idle")
        var reports = GatewayReportState()
        var done = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await check(&agent, &reports)
            done += 1
            if let cycles, done >= cycles { break }
            let delay = interval ?? agent.configuration.update.nextPollDelay()
            try? notifier.status("idle; next check in \(Int(delay.components.seconds)) s")
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) } } catch { break }
        }
        try? notifier.stopping(status: "stopping")
    }

    /// One poll: device config, certificate, registry credentials, the update, the reports.
    private func check(_ agent: inout DeviceAgent, _ reports: inout GatewayReportState) async {
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

/// The files otter-supervisor's children share: `reports.json` (what the gateway was told) and
/// `next-check` (the delay to the next poll in seconds, which the supervisor reads).
enum ChildCheckState {
    static func reports(in directory: String) -> GatewayReportState {
        guard let data = FileManager.default.contents(atPath: directory + "/reports.json"),
              let state = try? JSONDecoder().decode(GatewayReportState.self, from: data) else { return GatewayReportState() }
        return state
    }

    static func save(_ reports: GatewayReportState, nextDelay: Duration, in directory: String, logger: Logger) {
        let seconds = Double(nextDelay.components.seconds) + Double(nextDelay.components.attoseconds) / 1e18
        do {
            try JSONEncoder().encode(reports).write(to: URL(fileURLWithPath: directory + "/reports.json"), options: .atomic)
            try Data(String(seconds).utf8).write(to: URL(fileURLWithPath: directory + "/next-check"), options: .atomic)
        } catch {
            logger.warning("daemon state in \(directory): \(error) (the next check reports everything again)")
        }
    }
}
