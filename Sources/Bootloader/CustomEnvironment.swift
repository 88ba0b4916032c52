#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A user's script stands in for the bootloader tool, as in RAUC's `custom` backend:
/// `<script> get NAME` prints the value on stdout (exit 0; a non-zero exit means "not set"),
/// `<script> set NAME VALUE` stores it, `<script> unset NAME` removes it. Several changes are
/// several calls, so atomicity is the script's business.
public struct CustomEnvironment: BootloaderEnvironment {
    public let script: String

    public var backendName: String { "custom" }

    public init(script: String) {
        self.script = script
    }

    public func variables() throws -> [String: String] {
        throw BootloaderError.unsupported(backend: backendName, operation: "list all variables (the script only answers `get NAME`)")
    }

    public func value(of name: String) throws -> String? {
        try VariableName.validate(name)
        let result = try run(["get", name])
        guard result.status == 0 else { return nil }
        var output = result.output
        if output.hasSuffix("\n") { output.removeLast() }
        return output
    }

    public func values(of names: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in names { result[name] = try value(of: name) }
        return result
    }

    public func apply(_ changes: [String: String?]) throws {
        for name in changes.keys { try VariableName.validate(name) }
        for name in changes.keys.sorted() {
            let arguments = changes[name]!.map { ["set", name, $0] } ?? ["unset", name]
            let result = try run(arguments)
            guard result.status == 0 else {
                throw BootloaderError.scriptFailed(script: script, arguments: arguments, status: result.status, output: result.output)
            }
        }
    }

    /// posix_spawn with stdout on a pipe (stderr stays the caller's, so the script's messages reach the log).
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw BootloaderError.io(operation: "creating a pipe for", path: script, errno: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])

        // A child spawned from a pool thread inherits its nearly full signal mask (measured by
        // the health runner's tests) and would ignore SIGTERM: start it with none blocked.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([script] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var cArgv = argv + [nil]
        var pid: pid_t = 0
        var spawned = posix_spawn(&pid, script, &actions, &attributes, &cArgv, environ)
        // ETXTBSY: a script written a moment ago can still be open for writing in a child some
        // other thread forked before its exec; that clears within milliseconds.
        var attempts = 0
        while spawned == ETXTBSY && attempts < 50 {
            attempts += 1
            usleep(10_000)
            spawned = posix_spawn(&pid, script, &actions, &attributes, &cArgv, environ)
        }
        close(pipeFDs[1])
        guard spawned == 0 else {
            close(pipeFDs[0])
            throw BootloaderError.io(operation: "running", path: script, errno: spawned)
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output.append(contentsOf: buffer[0..<n])
        }
        close(pipeFDs[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw BootloaderError.io(operation: "waiting for", path: script, errno: errno) }
        }
        // WIFEXITED/WEXITSTATUS are macros; decode the wait status by hand.
        let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitCode, String(decoding: output, as: UTF8.self))
    }
}
