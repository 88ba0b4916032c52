import Glibc

/// The few file calls the blob store makes, each throwing `OCIError.fileSystem` with the path
/// and errno text.
enum StoreFiles {
    static func failure(_ operation: String, _ path: String, errno code: Int32 = errno) -> OCIError {
        .fileSystem(path: path, operation: operation, errno: code, message: String(cString: strerror(code)))
    }

    static func makeDirectories(_ path: String) throws(OCIError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw failure("create directory", current) }
        }
    }

    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(OCIError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw failure("open", path) }
        }
    }

    static func size(_ fd: Int32, _ path: String) throws(OCIError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("stat", path) }
        return Int64(info.st_size)
    }

    /// The size of the file at `path`, or nil when there is none.
    static func size(of path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, _ path: String) throws(OCIError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write", path)
            }
            done += n
        }
    }

    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, _ path: String) throws(OCIError) -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw failure("read", path) }
        }
    }

    static func truncate(_ fd: Int32, _ path: String) throws(OCIError) {
        guard ftruncate(fd, 0) == 0 else { throw failure("truncate", path) }
    }

    static func sync(_ fd: Int32, _ path: String) throws(OCIError) {
        guard fsync(fd) == 0 else { throw failure("fsync", path) }
    }

    /// Makes a rename in `directory` durable.
    static func syncDirectory(_ directory: String) throws(OCIError) {
        let fd = try open(directory, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try sync(fd, directory)
    }

    static func rename(_ from: String, _ to: String) throws(OCIError) {
        guard Glibc.rename(from, to) == 0 else { throw failure("rename \(from) to", to) }
    }

    static func remove(_ path: String) throws(OCIError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw failure("remove", path) }
    }
}
