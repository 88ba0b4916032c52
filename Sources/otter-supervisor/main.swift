#if canImport(Glibc)
import Glibc
#endif
import SystemdNotify

// otter-supervisor: what `otter daemon` becomes between checks (it execs this program, so the
// PID systemd watches stays the same). It links the Swift standard library and nothing else, and
// is single-threaded: it starts `otter daemon … --check-once DIR` for each poll, feeds the
// systemd watchdog while a check runs and while it sleeps, and passes SIGTERM/SIGINT on to a
// running check, which stops between steps. The libraries a check needs (libostree, GLib,
// libcurl, OpenSSL, SQLite, …) are mapped only while that check runs.
//
//   otter-supervisor --otter PATH [--cycles N] [--interval SECONDS] -- DAEMON-ARGUMENTS...

struct Options {
    var otter = ""
    var cycles: Int?
    var interval: Double?
    var daemonArguments: [String] = []

    init(_ arguments: ArraySlice<String>) throws(UsageError) {
        var rest = arguments
        while let argument = rest.popFirst() {
            switch argument {
            case "--": daemonArguments = Array(rest); rest = []
            case "--otter": otter = try Self.value(of: argument, &rest)
            case "--cycles":
                guard let count = Int(try Self.value(of: argument, &rest)), count > 0 else { throw UsageError("--cycles takes a count > 0") }
                cycles = count
            case "--interval":
                guard let seconds = Double(try Self.value(of: argument, &rest)), seconds >= 0 else { throw UsageError("--interval takes seconds ≥ 0") }
                interval = seconds
            default: throw UsageError("unknown argument \(argument)")
            }
        }
        guard !otter.isEmpty else { throw UsageError("--otter PATH is required") }
    }

    private static func value(of option: String, _ rest: inout ArraySlice<String>) throws(UsageError) -> String {
        guard let value = rest.popFirst() else { throw UsageError("\(option) needs a value") }
        return value
    }
}

struct UsageError: Error { let message: String; init(_ message: String) { self.message = message } }

/// Log lines in the format of the daemon's own (swift-log's stream handler), on stderr.
func log(_ level: String, _ message: String) {
    var now = time(nil)
    var parts = tm()
    localtime_r(&now, &parts)
    var stamp = [CChar](repeating: 0, count: 40)
    strftime(&stamp, stamp.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
    writeToStandardError("\(cString(stamp)) \(level) otter: [supervisor] \(message)\n")
}

func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}

/// The text of a NUL-terminated buffer.
func cString(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// How a check's process ended, with its peak resident memory.
struct CheckOutcome {
    var status: Int32
    var seconds: Double
    var peakRSSKilobytes: Int

    var exited: Bool { status & 0x7f == 0 }
    var description: String {
        exited ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
    }
}

final class Supervisor {
    let options: Options
    let notifier = SystemdNotifier()
    /// Half of WATCHDOG_USEC, in seconds (nil: no watchdog for this process).
    let watchdogInterval: Double?
    var nextWatchdog = 0.0
    var stopping = false
    var signals = sigset_t()
    let stateDirectory: String
    /// The environment of every check: this one without the watchdog variables (this process
    /// feeds the watchdog; a check must not count as the unit's main process).
    let childEnvironment: [String]

    init(options: Options, stateDirectory: String) {
        self.options = options
        self.stateDirectory = stateDirectory
        watchdogInterval = notifier.isEnabled ? notifier.watchdogInterval.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } : nil
        childEnvironment = processEnvironment().filter { $0.key != "WATCHDOG_USEC" && $0.key != "WATCHDOG_PID" }
            .map { "\($0.key)=\($0.value)" }
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGCHLD] { sigaddset(&signals, signal) }
        // Blocked signals are queued for sigtimedwait (a blocked SIGCHLD is not discarded).
        sigprocmask(SIG_BLOCK, &signals, nil)
    }

    /// Waits for SIGTERM, SIGINT or SIGCHLD until `deadline` (monotonic seconds), feeding the
    /// watchdog on the way; nil when the deadline passed first.
    func nextSignal(until deadline: Double) -> Int32? {
        while true {
            let now = monotonicSeconds()
            if let watchdogInterval, now >= nextWatchdog {
                do { try notifier.watchdog() } catch { log("warning", "sd_notify: \(error)") }
                nextWatchdog = now + watchdogInterval
            }
            if now >= deadline { return nil }
            let wake = watchdogInterval == nil ? deadline : min(deadline, nextWatchdog)
            let wait = min(3600, max(0, wake - now))
            var timeout = timespec(tv_sec: Int(wait), tv_nsec: Int((wait - Double(Int(wait))) * 1e9))
            let signal = sigtimedwait(&signals, nil, &timeout)
            if signal > 0 { return signal }
        }
    }

    /// Runs `otter DAEMON-ARGUMENTS --check-once DIR [extra]` to its end.
    func runCheck(_ extra: [String]) -> CheckOutcome? {
        let arguments = [options.otter] + options.daemonArguments + ["--check-once", stateDirectory] + extra
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = childEnvironment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let started = monotonicSeconds()
        let spawned = posix_spawn(&pid, options.otter, nil, &attributes, &argv, &envp)
        guard spawned == 0 else {
            log("error", "cannot start \(options.otter): \(String(cString: strerror(spawned)))")
            return nil
        }
        while true {
            var status: Int32 = 0
            var usage = rusage()
            if wait4(pid, &status, WNOHANG, &usage) == pid {
                return CheckOutcome(status: status, seconds: monotonicSeconds() - started, peakRSSKilobytes: usage.ru_maxrss)
            }
            switch nextSignal(until: .infinity) {
            case SIGTERM, SIGINT:
                if !stopping { log("info", "stopping: the check in process \(pid) finishes its current step first") }
                stopping = true
                kill(pid, SIGTERM)
            default: continue // SIGCHLD (reaped above) or a watchdog wake-up
            }
        }
    }

    /// The delay the last check asked for (poll interval with jitter, from its configuration).
    func requestedDelay() -> Double? {
        guard let file = fopen(stateDirectory + "/next-check", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let text = cString(buffer).trimmingSpaces
        return Double(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    func run() -> Int32 {
        log("info", "otter daemon: started; each check runs as a child process of \(options.otter)")
        let resume = runCheck(["--resume-only"])
        if let resume, !resume.exited || resume.status != 0 { log("error", "resume ended with \(resume.description)") }
        if !stopping { try? notifier.ready(status: "idle") }
        var done = 0
        var delay = options.interval ?? 300
        while !stopping {
            if let outcome = runCheck([]) {
                let line = "check took \(format(outcome.seconds)) s, peak RSS \(format(Double(outcome.peakRSSKilobytes) / 1024)) MB"
                if outcome.exited && outcome.status == 0 {
                    if processEnvironment()["OTTER_DEBUG"] != nil { log("debug", line) }
                } else {
                    log("error", "the check ended with \(outcome.description) (\(line)); the next check runs at the next poll")
                }
            }
            done += 1
            if let cycles = options.cycles, done >= cycles { break }
            if stopping { break }
            delay = options.interval ?? requestedDelay() ?? delay
            try? notifier.status("idle; next check in \(Int(delay)) s")
            let deadline = monotonicSeconds() + delay
            while let signal = nextSignal(until: deadline) {
                if signal == SIGTERM || signal == SIGINT { stopping = true; break }
            }
        }
        try? notifier.stopping(status: "stopping")
        for file in ["next-check", "reports.json"] { unlink(stateDirectory + "/" + file) }
        rmdir(stateDirectory)
        return 0
    }
}

func format(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        return String(text)
    }
}

/// A private directory for the checks' shared files: under the unit's RuntimeDirectory
/// (its first entry), else TMPDIR, else /tmp.
func makeStateDirectory() -> String? {
    let environment = processEnvironment()
    let base = environment["RUNTIME_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
        ?? environment["TMPDIR"] ?? "/tmp"
    var template = Array((base + "/otter-daemon.XXXXXX").utf8CString)
    guard mkdtemp(&template) != nil else {
        log("error", "cannot make a directory in \(base): \(String(cString: strerror(errno)))")
        return nil
    }
    return cString(template)
}

do {
    let options = try Options(CommandLine.arguments.dropFirst())
    guard let directory = makeStateDirectory() else { exit(1) }
    exit(Supervisor(options: options, stateDirectory: directory).run())
} catch {
    writeToStandardError("""
        otter-supervisor: \(error.message)
        usage: otter-supervisor --otter PATH [--cycles N] [--interval SECONDS] -- DAEMON-ARGUMENTS...
        (`otter daemon` starts it: run that instead)

        """)
    exit(64)
}
