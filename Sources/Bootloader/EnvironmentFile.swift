#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX file operations the backends need, each throwing `BootloaderError.io` with the
/// path and errno. Every write ends with `fsync`: a boot flag that is still in the page cache when
/// the power goes is a flag the bootloader never sees.
enum EnvironmentFile {
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        let fd = try openFile(path, O_RDONLY)
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BootloaderError.io(operation: "reading", path: path, errno: errno)
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// Exactly `count` bytes at `offset`; a short file is an error (the env must fit the device).
    static func readRange(_ path: String, offset: Int, count: Int) throws -> [UInt8] {
        let fd = try openFile(path, O_RDONLY)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BootloaderError.io(operation: "reading", path: path, errno: errno)
            }
            if n == 0 {
                throw BootloaderError.io(operation: "reading \(count) bytes at offset \(offset) of", path: path, errno: EIO)
            }
            done += n
        }
        return buffer
    }

    /// Overwrites `bytes.count` bytes at `offset` in place (a device or an image file) and syncs.
    static func overwrite(_ bytes: [UInt8], in path: String, offset: Int) throws {
        let fd = try openFile(path, O_WRONLY)
        defer { close(fd) }
        try writeAll(fd, bytes, offset: offset, path: path)
        guard fsync(fd) == 0 else { throw BootloaderError.io(operation: "syncing", path: path, errno: errno) }
    }

    /// Replaces a whole file so that a reader (or a power cut) sees either the old or the new
    /// content: write a temporary file beside it, fsync, rename over, fsync the directory.
    static func replace(_ path: String, with bytes: [UInt8]) throws {
        let temporary = "\(path).otter-new"
        let fd = try openFile(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        do {
            try writeAll(fd, bytes, offset: 0, path: temporary)
            guard fsync(fd) == 0 else { throw BootloaderError.io(operation: "syncing", path: temporary, errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw BootloaderError.io(operation: "renaming \(temporary) over", path: path, errno: code)
        }
        let directory = Self.directory(of: path)
        let dirFD = try openFile(directory, O_RDONLY | O_DIRECTORY)
        defer { close(dirFD) }
        // Some file systems (vfat ESPs among them) refuse fsync on a directory; the rename is done.
        if fsync(dirFD) != 0 && errno != EINVAL {
            throw BootloaderError.io(operation: "syncing directory", path: directory, errno: errno)
        }
    }

    /// Runs `body` holding `flock(LOCK_EX)` on `lockPath` (created if missing) — the lock
    /// `fw_printenv`/`fw_setenv` take, so Otter and the tools never interleave a read-modify-write.
    static func withLock<T>(_ lockPath: String?, _ body: () throws -> T) throws -> T {
        guard let lockPath else { return try body() }
        let fd = try openFile(lockPath, O_RDWR | O_CREAT, mode: 0o644)
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw BootloaderError.io(operation: "locking", path: lockPath, errno: errno) }
        }
        return try body()
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = path[..<slash]
        return dir.isEmpty ? "/" : String(dir)
    }

    private static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0) throws -> Int32 {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw BootloaderError.io(operation: "opening", path: path, errno: errno) }
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BootloaderError.io(operation: "writing", path: path, errno: errno)
            }
            done += n
        }
    }
}
