import Glibc
import Synchronization

/// What a program did: how it ended and what it printed.
public struct ProgramResult: Sendable {
    public var arguments: [String]
    /// The exit code, when the program exited by itself.
    public var exitCode: Int32?
    /// The signal that ended it (SIGKILL after a timeout or cancellation).
    public var signal: Int32?
    /// It ran out of time and was killed.
    public var timedOut: Bool
    /// The captured output; at most `ProgramRunner.outputLimit` bytes each (the end is kept,
    /// where errors usually are).
    public var standardOutput: [UInt8]
    public var standardError: [UInt8]
    public var duration: Duration

    public var succeeded: Bool { exitCode == 0 && !timedOut }
    public var outputText: String { String(decoding: standardOutput, as: UTF8.self) }
    public var errorText: String { String(decoding: standardError, as: UTF8.self) }

    /// One line for error messages: how it ended and the last lines of its stderr.
    public var summary: String {
        var text: String
        if timedOut {
            text = "did not finish within its timeout and was killed"
        } else if let exitCode {
            text = "exited with status \(exitCode)"
        } else {
            text = "was killed by signal \(signal ?? 0)"
        }
        let lines = errorText.split(whereSeparator: \.isNewline).suffix(6)
        if !lines.isEmpty { text += ": " + lines.joined(separator: " | ") }
        return text
    }
}

/// A program could not be started at all.
public struct ProgramError: Error, Sendable, CustomStringConvertible {
    public var program: String
    public var message: String

    public init(program: String, message: String) {
        self.program = program
        self.message = message
    }

    public var description: String { "cannot run \(program): \(message)" }
}

/// Runs a program with `posix_spawn`, captures its stdout and stderr, and kills it (with its
/// process group) when its time is up or the calling task is cancelled. The waiting happens
/// on a dedicated thread, never on the cooperative pool. Used for the compose CLI; general
/// enough for health-check commands.
public struct ProgramRunner: Sendable {
    /// Added to (or replacing in) the runner's own environment for every program.
    public var environment: [String: String]
    public var outputLimit: Int

    public init(environment: [String: String] = [:], outputLimit: Int = 1 << 20) {
        self.environment = environment
        self.outputLimit = outputLimit
    }

    /// Runs `arguments` (`arguments[0]` is looked up in `PATH` unless it holds a `/`) in
    /// `directory`, with stdin from /dev/null. Returns however the program ended, including a
    /// timeout; throws `ProgramError` only when it cannot be started.
    public func run(_ arguments: [String], in directory: String? = nil, environment extra: [String: String] = [:],
                    timeout: Duration? = nil) async throws -> ProgramResult {
        guard let program = arguments.first else {
            throw ProgramError(program: "(nothing)", message: "no program given")
        }
        var environment = self.environment
        environment.merge(extra) { $1 }
        let stop = StopFlag()
        let child = ChildProcess(arguments: arguments, directory: directory, environment: environment,
                                 timeout: timeout, outputLimit: outputLimit)
        return try await withTaskCancellationHandler {
            try await DedicatedThread.run(program) { try child.runToEnd(stop: stop) }
        } onCancel: {
            stop.raise()
        }
    }
}

/// The spawn-and-wait work of one run, on its dedicated thread.
private struct ChildProcess: Sendable {
    var arguments: [String]
    var directory: String?
    var environment: [String: String]
    var timeout: Duration?
    var outputLimit: Int

    func runToEnd(stop: StopFlag) throws -> ProgramResult {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = timeout.map { started + $0 }
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard makeCloseOnExecPipe(&outPipe) else { throw failure("cannot create a pipe") }
        guard makeCloseOnExecPipe(&errPipe) else {
            close(outPipe[0]); close(outPipe[1])
            throw failure("cannot create a pipe")
        }
        defer { close(outPipe[0]); close(errPipe[0]) }

        let pid: pid_t
        do {
            pid = try spawn(stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            close(outPipe[1]); close(errPipe[1])
            throw error
        }
        close(outPipe[1])
        close(errPipe[1])

        var output = CapturedOutput(limit: outputLimit)
        var errors = CapturedOutput(limit: outputLimit)
        var open: [Int32] = [outPipe[0], errPipe[0]]
        var status: Int32 = 0
        var exited = false
        var killed = false
        var timedOut = false
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }

        while !(exited && open.isEmpty) {
            if !killed {
                let expired = deadline.map { clock.now >= $0 } ?? false
                if expired || stop.isRaised {
                    timedOut = expired
                    // The group: compose's own children must not outlive it.
                    kill(-pid, SIGKILL)
                    kill(pid, SIGKILL)
                    killed = true
                }
            }
            if !exited {
                let waited = waitpid(pid, &status, WNOHANG)
                if waited == pid { exited = true }
            }
            if open.isEmpty {
                usleep(10_000)
                continue
            }
            // After the child exited, only drain what is already there: a grandchild that keeps
            // the pipe open must not keep us waiting.
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), exited ? 0 : 100)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 {
                if exited { break }
                continue
            }
            for entry in fds where entry.revents != 0 {
                let count = read(entry.fd, buffer.baseAddress, buffer.count)
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if count <= 0 {
                    open.removeAll { $0 == entry.fd }
                    continue
                }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                if entry.fd == outPipe[0] { output.append(chunk) } else { errors.append(chunk) }
            }
        }
        if !exited { _ = waitpid(pid, &status, 0) }

        // Wait status layout (as WIFEXITED/WEXITSTATUS/WTERMSIG, which Swift cannot import).
        let signal = status & 0x7f
        return ProgramResult(arguments: arguments,
                             exitCode: signal == 0 ? (status >> 8) & 0xff : nil,
                             signal: signal == 0 ? nil : signal,
                             timedOut: timedOut,
                             standardOutput: output.bytes, standardError: errors.bytes,
                             duration: clock.now - started)
    }

    private func spawn(stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        if let directory {
            guard let addChdir = Self.addChdir, addChdir(&actions, directory) == 0 else {
                throw failure("cannot change to \(directory)")
            }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Threads of this process block signals (SIGPIPE on the HTTP thread, SIGTERM under
        // dispatch); the child starts with none blocked and default handlers. Its own process
        // group lets a timeout kill whatever it started too.
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var merged: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let line = String(cString: pointer)
            if let equals = line.firstIndex(of: "=") {
                merged[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            entry += 1
        }
        merged.merge(environment) { $1 }

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let rc = arguments[0].contains("/")
            ? posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
            : posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw ProgramError(program: arguments[0], message: String(cString: strerror(rc))
                + (rc == ENOENT ? " (not installed, or not in PATH \(getenv("PATH").map { String(cString: $0) } ?? ""))" : ""))
        }
        return pid
    }

    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+; musl 1.1.24+) is hidden from
    /// Swift behind _GNU_SOURCE; looked up once, with its C signature.
    static let addChdir: AddChdir? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

    private func failure(_ what: String) -> ProgramError {
        ProgramError(program: arguments[0], message: "\(what): \(String(cString: strerror(errno)))")
    }
}

/// Set by a cancellation handler, read by the thread that waits for the child.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func raise() { flag.store(true, ordering: .releasing) }
    var isRaised: Bool { flag.load(ordering: .acquiring) }
}

/// Output kept up to a limit; past it the oldest bytes go.
private struct CapturedOutput {
    let limit: Int
    var bytes: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: chunk)
        if bytes.count > limit { bytes.removeFirst(bytes.count - limit) }
    }
}

/// `pipe2(O_CLOEXEC)` is not visible to Swift (it needs _GNU_SOURCE): pipe, then mark both
/// ends. A program spawned by another thread in between may inherit them; the wait loop does
/// not rely on end of file for that reason.
func makeCloseOnExecPipe(_ fds: inout [Int32]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
    return true
}
