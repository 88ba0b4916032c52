#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials

/// Runs one program to completion with posix_spawn (FoundationEssentials has no `Process`):
/// stdin from /dev/null, stdout and stderr combined on one pipe of which the last
/// `outputTailBytes` are kept, its own process group, a timeout that signals the whole group
/// (SIGTERM, then SIGKILL after `killGrace`), and the child always reaped.
///
/// The group is also killed when the program exits normally: a health check or callback must not
/// leave background children behind (they would hold the output pipe open and outlive the verdict).
/// The wait is async (non-blocking reads between short sleeps), so it never ties up a thread of the
/// cooperative pool; cancelling the task kills the group as a timeout does.
public struct ExecutableRunner: Sendable {
    /// How a run ended.
    public struct Outcome: Sendable, Equatable, Codable {
        /// The program's pid (already reaped: for logs, and for tests that check nothing is left).
        public var processID: Int32
        /// The exit status when the program exited; nil when a signal ended it.
        public var exitCode: Int32?
        /// The signal that ended the program, if one did.
        public var signal: Int32?
        /// True when the runner ended it because the timeout passed (or the task was cancelled).
        public var timedOut: Bool
        public var duration: Duration
        /// The last bytes of combined stdout and stderr, decoded as UTF-8 (invalid bytes replaced).
        public var outputTail: String
        /// True when more output was produced than the tail holds.
        public var outputTruncated: Bool

        public var succeeded: Bool { exitCode == 0 && !timedOut }

        /// "exit 0", "exit 3", "killed by signal 9", "timed out after 5s (killed by signal 15)".
        public var statusDescription: String {
            let ending = exitCode.map { "exit \($0)" } ?? signal.map { "killed by signal \($0)" } ?? "unknown status"
            return timedOut ? "timed out after \(duration.formattedSeconds) (\(ending))" : ending
        }
    }

    public var timeout: Duration
    public var killGrace: Duration
    public var outputTailBytes: Int
    /// Variables added to (or replacing) the runner's own environment.
    public var environment: [String: String]
    /// When false, the child gets only `environment`.
    public var inheritEnvironment: Bool

    public init(timeout: Duration, killGrace: Duration = .seconds(2), outputTailBytes: Int = 16 * 1024,
                environment: [String: String] = [:], inheritEnvironment: Bool = true) {
        self.timeout = timeout
        self.killGrace = killGrace
        self.outputTailBytes = max(0, outputTailBytes)
        self.environment = environment
        self.inheritEnvironment = inheritEnvironment
    }

    /// Runs `arguments[0]` (an absolute or relative path, not searched in PATH) with `arguments`
    /// as its argv. Throws only when the program could not be started at all.
    public func run(_ arguments: [String]) async throws -> Outcome {
        guard let executable = arguments.first else { throw ExecutableRunnerError.emptyCommand }
        let started = ContinuousClock.now
        let child = try spawn(executable: executable, arguments: arguments)
        defer { close(child.outputFD) }

        var tail = OutputTail(capacity: outputTailBytes)
        var timedOut = false
        var termSentAt: ContinuousClock.Instant?
        let deadline = started.advanced(by: timeout)
        var pipeOpen = true

        // Phase 1: until the program exits (it stays a zombie: waitid with WNOWAIT does not reap, so
        // its pid, and with it the process group id, cannot be reused while we signal the group).
        while !Self.hasExited(child.pid) {
            if pipeOpen { pipeOpen = tail.drain(child.outputFD) }
            let now = ContinuousClock.now
            if let termSentAt {
                if now >= termSentAt.advanced(by: killGrace) { kill(-child.pid, SIGKILL) }
            } else if now >= deadline || Task.isCancelled {
                timedOut = true
                termSentAt = now
                kill(-child.pid, SIGTERM)
            }
            if Task.isCancelled {
                // A cancelled task's sleep returns at once; wait out the kill without spinning.
                usleep(20_000)
            } else {
                try? await Task.sleep(for: .milliseconds(termSentAt == nil ? 10 : 20))
            }
        }
        // Phase 2: whatever is still in the group (background children) goes with the program.
        kill(-child.pid, SIGKILL)
        let status = Self.reap(child.pid)
        // Phase 3: the group is dead, so the write ends are closed; read what is left in the pipe.
        if pipeOpen { _ = tail.drain(child.outputFD) }

        let exitSignal = status & 0x7F
        return Outcome(processID: child.pid,
                       exitCode: exitSignal == 0 ? (status >> 8) & 0xFF : nil,
                       signal: exitSignal == 0 ? nil : exitSignal,
                       timedOut: timedOut,
                       duration: ContinuousClock.now - started,
                       outputTail: String(decoding: tail.bytes, as: UTF8.self),
                       outputTruncated: tail.truncated)
    }

    private struct SpawnedChild { var pid: pid_t; var outputFD: Int32 }

    private func spawn(executable: String, arguments: [String]) throws -> SpawnedChild {
        var fds: [Int32] = [-1, -1]
        // pipe2 is not visible from Swift's Glibc (no _GNU_SOURCE): set close-on-exec right after,
        // so children spawned by other threads do not keep our pipe open for long.
        guard pipe(&fds) == 0 else {
            throw ExecutableRunnerError.couldNotStart(executable, errno: errno, detail: "creating the output pipe")
        }
        let (readFD, writeFD) = (fds[0], fds[1])
        _ = fcntl(readFD, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeFD, F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeFD, 1)
        posix_spawn_file_actions_adddup2(&actions, writeFD, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A new process group (pgid = pid) so a timeout reaches the program's children too. The
        // signal mask and dispositions are reset: threads of Swift's pool may block SIGTERM, and a
        // child inheriting that would only ever die by SIGKILL.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] {
            sigaddset(&defaultSignals, signal)
        }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = arguments.map { strdup($0) }
        defer { argv.forEach { free($0) } }
        let envp = childEnvironment().map { strdup("\($0.key)=\($0.value)") }
        defer { envp.forEach { free($0) } }
        var cArgv = argv + [nil]
        var cEnvp = envp + [nil]

        var pid: pid_t = 0
        var result = posix_spawn(&pid, executable, &actions, &attributes, &cArgv, &cEnvp)
        // ETXTBSY: a script written a moment ago can still be open for writing in a child another
        // thread forked before its exec; that clears within milliseconds.
        var attempts = 0
        while result == ETXTBSY && attempts < 50 {
            attempts += 1
            usleep(10_000)
            result = posix_spawn(&pid, executable, &actions, &attributes, &cArgv, &cEnvp)
        }
        close(writeFD)
        guard result == 0 else {
            close(readFD)
            throw ExecutableRunnerError.couldNotStart(executable, errno: result, detail: "posix_spawn")
        }
        _ = fcntl(readFD, F_SETFL, fcntl(readFD, F_GETFL) | O_NONBLOCK)
        return SpawnedChild(pid: pid, outputFD: readFD)
    }

    private func childEnvironment() -> [String: String] {
        guard inheritEnvironment else { return environment }
        return ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }

    /// True once the child has exited; the zombie is left for `reap`.
    private static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 {
            // ECHILD: somebody else reaped it (a SIGCHLD handler elsewhere); it is gone either way.
            guard errno == EINTR else { return true }
        }
        return info._sifields._kill.si_pid != 0
    }

    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return SIGKILL } // already reaped elsewhere: report it as killed
        }
        return status
    }
}

public enum ExecutableRunnerError: Error, CustomStringConvertible, Equatable {
    case emptyCommand
    case couldNotStart(String, errno: Int32, detail: String)

    public var description: String {
        switch self {
        case .emptyCommand:
            return "no program to run: the command is empty; set the program in the configuration"
        case let .couldNotStart(program, code, detail):
            return "could not start \(program) (\(detail): \(String(cString: strerror(code)))); check that it exists and is executable"
        }
    }
}

/// The last `capacity` bytes read from a non-blocking pipe.
private struct OutputTail {
    let capacity: Int
    private(set) var bytes: [UInt8] = []
    private(set) var truncated = false

    init(capacity: Int) { self.capacity = capacity }

    /// Reads everything available now; false once the pipe reached end of file.
    mutating func drain(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                append(buffer[0..<count])
                continue
            }
            if count == 0 { return false }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK
        }
    }

    private mutating func append(_ chunk: ArraySlice<UInt8>) {
        bytes.append(contentsOf: chunk)
        if bytes.count > capacity {
            truncated = true
            bytes.removeFirst(bytes.count - capacity)
        }
    }
}

extension Duration {
    /// "1.5s", "300s": for messages and summaries.
    var formattedSeconds: String {
        let (seconds, attoseconds) = components
        let tenths = attoseconds / 100_000_000_000_000_000
        return tenths == 0 ? "\(seconds)s" : "\(seconds).\(tenths)s"
    }

    var secondsValue: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
