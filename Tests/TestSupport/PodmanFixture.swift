import Foundation

/// podman's Docker-compatible API service on a unix socket in a temp directory, with its own
/// storage (vfs, under the directory), its own containers.conf (`CONTAINERS_CONF`: no default
/// ulimits, runc, cgroupfs, file event log, networks kept in the directory — what works in
/// this container and leaves nothing behind in /etc), run in the
/// foreground and stopped by its PID. `podman(_:)` runs the CLI on the same storage, for
/// checks and for building test images.
public final class PodmanFixture: @unchecked Sendable {
    public let directory: String
    public let socketPath: String
    public let configPath: String
    /// The service, spawned directly and reaped with waitpid: Foundation's Process did not
    /// notice the SIGKILLed service exit (waitUntilExit spun forever).
    private let pid: pid_t
    private var stopped = false

    public var environment: [String: String] { ["CONTAINERS_CONF": configPath] }

    /// The storage flags of the service; `store` picks another storage under the directory
    /// (a "build machine" that does not share images with the engine under test).
    public func storageFlags(store: String = "engine") -> [String] {
        ["--root", "\(directory)/\(store)/root", "--runroot", "\(directory)/\(store)/run", "--storage-driver", "vfs",
         "--tmpdir", "\(directory)/\(store)/tmp"]
    }

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-podman-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        configPath = directory + "/containers.conf"
        socketPath = directory + "/podman.sock"
        try """
        [containers]
        default_ulimits = []
        [engine]
        runtime = "runc"
        cgroup_manager = "cgroupfs"
        events_logger = "file"
        [network]
        network_config_dir = "\(directory)/networks"

        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let arguments = ["/usr/bin/podman", "--root", "\(directory)/engine/root", "--runroot", "\(directory)/engine/run",
                         "--storage-driver", "vfs", "--tmpdir", "\(directory)/engine/tmp",
                         "system", "service", "--time=0", "unix://\(socketPath)"]
        pid = try Self.spawn(arguments, log: directory + "/service.log",
                             environment: ProcessInfo.processInfo.environment.merging(["CONTAINERS_CONF": configPath]) { $1 })
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: socketPath) {
            guard isRunning, Date() < deadline else {
                let log = (try? String(contentsOfFile: directory + "/service.log", encoding: .utf8)) ?? ""
                stop()
                throw FixtureError("podman system service did not create \(socketPath): \(log)")
            }
            usleep(50_000)
        }
    }

    deinit { stop() }

    /// Runs the podman CLI on the engine's storage (or another one, see `storageFlags`).
    @discardableResult
    public func podman(_ arguments: [String], store: String = "engine") throws -> (out: String, err: String, status: Int32) {
        try runProcess("/usr/bin/podman", storageFlags(store: store) + arguments, env: environment)
    }

    /// Kills the service (SIGKILL: see the lessons about blocked SIGTERM), removes every
    /// container it left, unmounts what is still mounted under the directory, deletes it.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        for store in ["engine", "build"] where FileManager.default.fileExists(atPath: "\(directory)/\(store)") {
            _ = try? runProcess("/usr/bin/podman", storageFlags(store: store) + ["rm", "--all", "--force", "--time", "0"], env: environment)
        }
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        for line in mounts.split(separator: "\n").reversed() {
            let fields = line.split(separator: " ")
            if fields.count > 1, fields[1].hasPrefix(directory) { _ = umount2(String(fields[1]), Int32(MNT_DETACH)) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension PodmanFixture {
    private var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// posix_spawn with stdin from /dev/null, stdout and stderr to `log`, no blocked signals.
    static func spawn(_ arguments: [String], log: String, environment: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard rc == 0 else { throw FixtureError("cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
        return pid
    }
}
