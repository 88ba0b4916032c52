import Glibc

/// The file calls of the app store and the bundle packer, each throwing
/// `AppStoreError.fileSystem` with the path and the errno text.
enum AppFiles {
    static func failure(_ operation: String, _ path: String, errno code: Int32 = errno) -> AppStoreError {
        .fileSystem(path: path, operation: operation, message: String(cString: strerror(code)))
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Size of a regular file, nil when there is none.
    static func size(of path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    /// The whole file, refusing more than `limit` bytes.
    static func read(_ path: String, limit: Int) throws(AppStoreError) -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("read", path)
            }
            if n == 0 { return bytes }
            bytes += buffer[0..<n]
            guard bytes.count <= limit else {
                throw .fileSystem(path: path, operation: "read", message: "larger than the limit of \(limit) bytes")
            }
        }
    }

    /// Replaces `path` with `bytes` so that a crash leaves the old or the new content, never a
    /// mix: a temp file in the same directory, fsync, rename, fsync of the directory.
    static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(AppStoreError) {
        let temp = "\(path).tmp-\(getpid())"
        let fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("create", temp) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = failure("write", temp)
                close(fd)
                unlink(temp)
                throw error
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let error = failure("fsync", temp)
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        try rename(temp, path)
        try syncDirectory(parent(of: path))
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func syncDirectory(_ directory: String) throws(AppStoreError) {
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", directory) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync", directory) }
    }

    static func rename(_ from: String, _ to: String) throws(AppStoreError) {
        guard Glibc.rename(from, to) == 0 else { throw failure("rename \(from) to", to) }
    }

    static func makeDirectories(_ path: String) throws(AppStoreError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw failure("create directory", current) }
        }
    }

    /// A new empty directory below `parent` with a unique name.
    static func makeTemporaryDirectory(in parent: String, prefix: String) throws(AppStoreError) -> String {
        try makeDirectories(parent)
        var template = Array("\(parent)/\(prefix)XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw failure("create a temporary directory in", parent)
        }
        return String(cString: made)
    }

    /// Names in a directory (no `.`/`..`), sorted bytewise; empty when it does not exist.
    static func list(_ directory: String) throws(AppStoreError) -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw failure("list", directory)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    enum Kind { case file, directory, symlink(String), other }

    static func kind(of path: String) throws(AppStoreError) -> (kind: Kind, mode: UInt32) {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw failure("stat", path) }
        let mode = UInt32(info.st_mode & 0o7777)
        switch info.st_mode & S_IFMT {
        case S_IFREG: return (.file, mode)
        case S_IFDIR: return (.directory, mode)
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &buffer, buffer.count - 1)
            guard n >= 0 else { throw failure("read the link", path) }
            return (.symlink(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)), mode)
        default: return (.other, mode)
        }
    }

    /// Removes a file, or a directory with everything below it (symlinks are removed, never
    /// followed). A missing path is not an error.
    static func removeTree(_ path: String) throws(AppStoreError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw failure("stat", path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path) { try removeTree("\(path)/\(name)") }
            guard rmdir(path) == 0 || errno == ENOENT else { throw failure("remove directory", path) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw failure("remove", path) }
        }
    }

    /// Total size of the regular files below `path`.
    static func treeSize(_ path: String) -> Int64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            return ((try? list(path)) ?? []).reduce(0) { $0 + treeSize("\(path)/\($1)") }
        }
        return (info.st_mode & S_IFMT) == S_IFREG ? Int64(info.st_size) : 0
    }
}

/// An exclusive `flock` on a file, held until `release()` or deinit; a second process gets
/// `storeBusy` instead of waiting. A busy lock is retried for up to two seconds first: a child
/// that another thread is spawning holds a copy of the descriptor until its exec closes it.
final class StoreLock {
    private var fd: Int32

    init(path: String, root: String) throws(AppStoreError) {
        fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AppFiles.failure("open", path) }
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            attempts += 1
            guard errno == EWOULDBLOCK, attempts < 100 else {
                close(fd)
                fd = -1
                throw .storeBusy(root)
            }
            usleep(20_000)
        }
    }

    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
