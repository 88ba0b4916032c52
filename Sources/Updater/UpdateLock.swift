import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// One update at a time per device: `otter update` at the console and the daemon must not both
/// drive the state machine. An exclusive `flock` on `<state.db>.lock`; the kernel drops it when
/// the process dies, so a `kill -9` never leaves a stale lock behind.
struct UpdateLock: Sendable {
    let path: String

    func hold<T>(_ body: () async throws -> T) async throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw UpdaterError("cannot open the update lock \(path): \(String(cString: strerror(errno))); check that the state directory is writable")
        }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "another otter process (the daemon or a command) is working on an update"
                : String(cString: strerror(errno))
            throw UpdaterError("\(reason) (lock \(path)); wait for it to finish, `otter status` shows what it is doing")
        }
        return try await body()
    }
}
