#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials

/// The health check after an update (DESIGN.md, issue #6 item 5): every app service running and,
/// where the image has a HEALTHCHECK, healthy; then every executable of the required directories
/// (each must exit 0) and the wanted ones (failures are reported, the verdict does not change), in
/// name order within each directory, all within one overall timeout. After the verdict the green.d
/// (pass) or red.d (fail) hooks run; they never change it.
///
/// greenboot's directories are honoured the way greenboot itself runs them: every `*.sh` file of
/// `<root>/check/required.d` (and `wanted.d`, `green.d`, `red.d`), executable or not, through bash;
/// other files there are not checks. Otter's own directories hold executables of any kind.
///
/// Apps come first because checks commonly probe what the apps serve. Services still starting are
/// polled until the overall timeout; a service that exited or turned unhealthy fails at once.
public struct HealthCheckRunner: Sendable {
    public var requiredDirectories: [String]
    public var wantedDirectories: [String]
    public var greenDirectories: [String]
    public var redDirectories: [String]
    /// greenboot roots (`/usr/lib/greenboot`, `/etc/greenboot`); their scripts follow Otter's.
    public var greenbootDirectories: [String]
    public var greenbootShell: String
    public var timeout: Duration
    public var perCheckTimeout: Duration
    public var killGrace: Duration
    public var outputTailBytes: Int
    /// How often app states are asked for while services are starting.
    public var appPollInterval: Duration
    /// Added to each check's environment (Otter adds `OTTER_HEALTH_VERDICT` for hooks).
    public var environment: [String: String]

    public init(requiredDirectories: [String], wantedDirectories: [String] = [],
                greenDirectories: [String] = [], redDirectories: [String] = [],
                greenbootDirectories: [String] = [], greenbootShell: String = "/bin/bash",
                timeout: Duration = .seconds(300), perCheckTimeout: Duration = .seconds(60),
                killGrace: Duration = .seconds(5), outputTailBytes: Int = 16 * 1024,
                appPollInterval: Duration = .milliseconds(500), environment: [String: String] = [:]) {
        self.requiredDirectories = requiredDirectories
        self.wantedDirectories = wantedDirectories
        self.greenDirectories = greenDirectories
        self.redDirectories = redDirectories
        self.greenbootDirectories = greenbootDirectories
        self.greenbootShell = greenbootShell
        self.timeout = timeout
        self.perCheckTimeout = perCheckTimeout
        self.killGrace = killGrace
        self.outputTailBytes = outputTailBytes
        self.appPollInterval = appPollInterval
        self.environment = environment
    }

    /// Otter's and greenboot's directories and the timeouts of `[health]`.
    public init(configuration: OtterConfiguration) {
        let health = configuration.health
        self.init(requiredDirectories: health.requiredDirectories, wantedDirectories: health.wantedDirectories,
                  greenDirectories: health.greenDirectories, redDirectories: health.redDirectories,
                  greenbootDirectories: health.greenbootDirectories, greenbootShell: health.greenbootShell,
                  timeout: health.timeout, perCheckTimeout: health.perCheckTimeout,
                  killGrace: health.killGrace, outputTailBytes: health.outputTailBytes)
    }

    /// Runs the whole check. `apps` are the Target's app names (an app with no service at all is a
    /// finding); `appStates` reads the runtime's current service states, and is asked again while
    /// some are starting. Without `appStates` only the check directories count.
    public func run(apps: [String] = [],
                    appStates: (@Sendable () async throws -> [AppServiceState])? = nil,
                    log: @Sendable (String) -> Void = logToStandardError) async -> HealthReport {
        let startedAt = Date()
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: timeout)
        var notes: [String] = []

        let findings = await appFindings(apps: apps, appStates: appStates, deadline: deadline, clock: clock)
        for finding in findings where finding.problem != nil { log("health: \(finding.describe())") }

        var checks: [HealthCheckResult] = []
        let required = programs(requiredDirectories, greenboot: "check/required.d", notes: &notes)
        let wanted = programs(wantedDirectories, greenboot: "check/wanted.d", notes: &notes)
        for (kind, programs) in [(HealthCheckResult.Kind.required, required), (.wanted, wanted)] {
            for program in programs {
                let remaining = deadline - clock.now
                let result: HealthCheckResult
                if Task.isCancelled {
                    result = .notRun(path: program.path, kind: kind, reason: "the health check was cancelled (Otter is stopping)")
                } else if remaining <= .zero {
                    result = .notRun(path: program.path, kind: kind,
                                     reason: "the overall health timeout of \(timeout.formattedSeconds) ran out before it started")
                } else {
                    result = await runCheck(program, kind: kind, timeout: min(perCheckTimeout, remaining), extraEnvironment: [:])
                }
                if !result.passed { log("health: \(kind.rawValue) check \(program.path): \(result.statusDescription)") }
                checks.append(result)
            }
        }

        let passed = checks.allSatisfy { $0.kind != .required || $0.passed } && findings.allSatisfy { $0.problem == nil }
        let verdict: HealthReport.Verdict = passed ? .pass : .fail

        var hooks: [HealthCheckResult] = []
        // A cancelled check has no real verdict to announce: no hooks.
        let hookPrograms = Task.isCancelled ? []
            : passed ? programs(greenDirectories, greenboot: "green.d", notes: &notes)
            : programs(redDirectories, greenboot: "red.d", notes: &notes)
        for program in hookPrograms {
            let result = await runCheck(program, kind: .hook, timeout: perCheckTimeout,
                                        extraEnvironment: ["OTTER_HEALTH_VERDICT": verdict.rawValue])
            if !result.passed { log("health: hook \(program.path): \(result.statusDescription) (the verdict stays \(verdict.rawValue))") }
            hooks.append(result)
        }
        for note in notes { log("health: \(note)") }

        let seconds = (clock.now - start).secondsValue
        // Whole seconds: the report is stored as JSON with ISO 8601 times and must read back equal.
        return HealthReport(verdict: verdict, startedAt: startedAt.wholeSeconds, finishedAt: Date().wholeSeconds,
                            durationSeconds: seconds, checks: checks, apps: findings, hooks: hooks, notes: notes,
                            summary: Self.summary(verdict: verdict, checks: checks, findings: findings, seconds: seconds))
    }

    // MARK: Apps

    private func appFindings(apps: [String], appStates: (@Sendable () async throws -> [AppServiceState])?,
                             deadline: ContinuousClock.Instant, clock: ContinuousClock) async -> [AppHealthFinding] {
        guard let appStates else {
            return apps.map { AppHealthFinding(app: $0, problem: "no way to read its service states was given") }
        }
        while true {
            let timedOut = clock.now >= deadline
            var findings: [AppHealthFinding] = []
            var waiting = false
            var failed = false
            do {
                let states = try await appStates()
                for app in apps where !states.contains(where: { $0.app == app }) {
                    waiting = true
                    findings.append(AppHealthFinding(app: app, problem: timedOut
                        ? "no service of it exists after the \(timeout.formattedSeconds) health timeout" : "no service yet"))
                }
                for service in states.sorted(by: { ($0.app, $0.service) < ($1.app, $1.service) }) {
                    var finding = AppHealthFinding(app: service.app, service: service.service,
                                                   state: service.state, health: service.health)
                    if service.isStarting {
                        waiting = true
                        finding.problem = timedOut
                            ? "still \(service.health == "starting" ? "starting (health check)" : service.state) after the \(timeout.formattedSeconds) health timeout"
                            : "starting"
                    } else if !service.isHealthy {
                        failed = true
                        finding.problem = service.state == "running"
                            ? "\(service.health ?? "not healthy") (its HEALTHCHECK fails)"
                            : "\(service.state), expected running"
                    }
                    findings.append(finding)
                }
            } catch {
                waiting = true
                findings = [AppHealthFinding(app: apps.joined(separator: ","),
                                             problem: "could not read the service states: \(error)")]
            }
            if failed || !waiting || timedOut { return findings }
            if Task.isCancelled {
                return findings.map { finding in
                    var finding = finding
                    if finding.problem != nil { finding.problem = "\(finding.problem!); the health check was cancelled" }
                    return finding
                }
            }
            let pause = min(appPollInterval, deadline - clock.now)
            if pause > .zero { try? await Task.sleep(for: pause) }
        }
    }

    // MARK: Check executables

    /// One check to run: the file, and the argv that runs it.
    private struct CheckProgram {
        var path: String
        var arguments: [String]
    }

    /// Otter's `directories` (executables), then `<root>/<greenboot>` of each greenboot root
    /// (`*.sh` through the shell); each directory in name order. Skipped files are noted.
    private func programs(_ directories: [String], greenboot: String, notes: inout [String]) -> [CheckProgram] {
        var result: [CheckProgram] = []
        for directory in directories {
            for path in Self.files(in: directory, notes: &notes) {
                guard isExecutable(path) else {
                    notes.append("skipped \(path): not executable (chmod +x it to run it)")
                    continue
                }
                result.append(CheckProgram(path: path, arguments: [path]))
            }
        }
        for root in greenbootDirectories {
            for path in Self.files(in: "\(root)/\(greenboot)", notes: &notes) where path.hasSuffix(".sh") {
                result.append(CheckProgram(path: path, arguments: [greenbootShell, path]))
            }
        }
        return result
    }

    /// The regular files of `directory` in name order, dot files left out; a missing directory has none.
    private static func files(in directory: String, notes: inout [String]) -> [String] {
        guard FileStatus(directory)?.isDirectory == true,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var result: [String] = []
        for name in names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where !name.hasPrefix(".") {
            let path = "\(directory)/\(name)"
            guard FileStatus(path)?.isRegularFile == true else {
                notes.append("skipped \(path): not a regular file")
                continue
            }
            result.append(path)
        }
        return result
    }

    private func runCheck(_ program: CheckProgram, kind: HealthCheckResult.Kind, timeout: Duration,
                          extraEnvironment: [String: String]) async -> HealthCheckResult {
        let runner = ExecutableRunner(timeout: timeout, killGrace: killGrace, outputTailBytes: outputTailBytes,
                                      environment: environment.merging(extraEnvironment) { $1 })
        do {
            let outcome = try await runner.run(program.arguments)
            return HealthCheckResult(name: Self.fileName(program.path), path: program.path, kind: kind, exitCode: outcome.exitCode,
                                     signal: outcome.signal, timedOut: outcome.timedOut, notRun: nil,
                                     durationSeconds: outcome.duration.secondsValue, outputTail: outcome.outputTail)
        } catch {
            return .notRun(path: program.path, kind: kind, reason: "\(error)")
        }
    }

    static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    // MARK: Summary

    static func summary(verdict: HealthReport.Verdict, checks: [HealthCheckResult], findings: [AppHealthFinding],
                        seconds: Double) -> String {
        let services = findings.filter { $0.service != nil }
        let appCount = Set(findings.map(\.app)).count
        let required = checks.filter { $0.kind == .required }
        let wantedFailures = checks.filter { $0.kind == .wanted && !$0.passed }
        let time = String(Int(seconds.rounded()))
        guard verdict == .fail else {
            var line = "health passed in \(time)s: \(required.count) required check\(required.count == 1 ? "" : "s") passed, "
                + "\(appCount) app\(appCount == 1 ? "" : "s") (\(services.count) service\(services.count == 1 ? "" : "s")) running"
            if !wantedFailures.isEmpty {
                line += "; wanted check\(wantedFailures.count == 1 ? "" : "s") failed: " + wantedFailures.map(\.name).joined(separator: ", ")
            }
            return line
        }
        let problems = required.filter { !$0.passed }.map { "required check \($0.name) \($0.statusDescription)" }
            + findings.filter { $0.problem != nil }.map { $0.describe() }
        let shown = problems.prefix(3).joined(separator: "; ")
        return "health failed after \(time)s: \(shown)" + (problems.count > 3 ? " (+\(problems.count - 3) more)" : "")
    }
}

extension HealthCheckResult {
    static func notRun(path: String, kind: Kind, reason: String) -> HealthCheckResult {
        HealthCheckResult(name: HealthCheckRunner.fileName(path), path: path, kind: kind, exitCode: nil, signal: nil,
                          timedOut: false, notRun: reason, durationSeconds: 0, outputTail: "")
    }
}

extension AppHealthFinding {
    init(app: String, problem: String) {
        self.init(app: app, service: nil, state: nil, health: nil, problem: problem)
    }

    func describe() -> String {
        "app \(app)" + (service.map { " service \($0)" } ?? "") + ": " + (problem ?? "ok")
    }
}

extension Date {
    var wholeSeconds: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}

/// The default log sink of health checks and callbacks: one line on stderr (journald keeps it).
public func logToStandardError(_ line: String) {
    let text = Array((line + "\n").utf8)
    _ = text.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
