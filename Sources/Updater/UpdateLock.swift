import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// One update at a time per device: `otter update` at the console and the daemon must not both
/// drive the state machine. An exclusive `flock` on `<state.db>.lock`; the kernel drops it when
/// the process dies, so a `kill -9` never leaves a stale lock behind.
///
/// A child that another thread is just spawning holds a copy of the descriptor until its `exec`
/// closes it (O_CLOEXEC), which keeps the lock for a moment after `close`: a busy lock is retried
/// for `patience` before it counts as another process's update.
struct UpdateLock: Sendable {
    let path: String
    var patience: Duration = .seconds(3)

    func hold<T>(_ body: () async throws -> T) async throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw UpdaterError("cannot open the update lock \(path): \(String(cString: strerror(errno))); check that the state directory is writable")
        }
        defer { close(fd) }
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let failure = errno
            guard failure == EWOULDBLOCK, clock.now < deadline else { throw Self.error(path, errno: failure) }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await body()
    }

    private static func error(_ path: String, errno failure: Int32) -> UpdaterError {
        let reason = failure == EWOULDBLOCK ? "another otter process (the daemon or a command) is working on an update"
            : String(cString: strerror(failure))
        return UpdaterError("\(reason) (lock \(path)); wait for it to finish, `otter status` shows what it is doing")
    }
}
