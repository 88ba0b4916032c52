#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `stat(2)` says about a path, for the directory scans of config fragments and health checks.
struct FileStatus {
    let mode: mode_t

    /// nil when the path does not exist (or cannot be examined); symlinks are followed.
    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        mode = info.st_mode
    }

    var isRegularFile: Bool { mode & S_IFMT == S_IFREG }
    var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
}

/// True when the current user may execute `path` (the kernel's answer, so ACLs and noexec mounts count).
func isExecutable(_ path: String) -> Bool {
    access(path, X_OK) == 0
}
