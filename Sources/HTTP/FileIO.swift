import Glibc

/// The few file calls the client makes, each returning a value or throwing `HTTPError` with
/// the path and errno text.
enum FileIO {
    static func open(_ path: String, _ flags: Int32, method: HTTPMethod, url: String) throws(HTTPError) -> Int32 {
        let fd = retryingEINTR { Glibc.open(path, flags | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw failure("cannot open \(path)", method: method, url: url) }
        return fd
    }

    static func size(_ fd: Int32, path: String, method: HTTPMethod, url: String) throws(HTTPError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot stat \(path)", method: method, url: url) }
        return Int64(info.st_size)
    }

    static func failure(_ what: String, method: HTTPMethod, url: String, errno code: Int32 = errno) -> HTTPError {
        HTTPError(kind: .fileSystem(errno: code), method: method, url: url,
                  message: "\(what): \(String(cString: strerror(code)))")
    }

    static func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result >= 0 || errno != EINTR { return result }
        }
    }
}

/// A request body as libcurl's read callback consumes it.
final class RequestBodySource {
    private let bytes: [UInt8]?
    private let fd: Int32
    /// The descriptor belongs to the caller (`.stream`): read it, never close it.
    private let ownsDescriptor: Bool
    private let path: String
    private let request: HTTPRequest
    private var position: Int64 = 0
    let size: Int64

    init(_ body: HTTPRequestBody, request: HTTPRequest) throws(HTTPError) {
        self.request = request
        switch body {
        case .bytes(let bytes):
            self.bytes = bytes
            fd = -1
            ownsDescriptor = true
            path = ""
            size = Int64(bytes.count)
        case .stream(let descriptor):
            bytes = nil
            fd = descriptor
            ownsDescriptor = false
            path = "stream (file descriptor \(descriptor))"
            size = -1
        case .file(let path):
            bytes = nil
            ownsDescriptor = true
            self.path = path
            fd = try FileIO.open(path, O_RDONLY, method: request.method, url: request.url)
            do {
                size = try FileIO.size(fd, path: path, method: request.method, url: request.url)
            } catch {
                Glibc.close(fd)
                throw error
            }
        }
    }

    deinit {
        if fd >= 0, ownsDescriptor { Glibc.close(fd) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(HTTPError) -> Int {
        if let bytes {
            let count = min(buffer.count, bytes.count - Int(position))
            guard count > 0 else { return 0 }
            bytes.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[Int(position)..<Int(position) + count]))
            }
            position += Int64(count)
            return count
        }
        let count = FileIO.retryingEINTR { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        guard count >= 0 else {
            throw FileIO.failure("cannot read request body \(path)", method: request.method, url: request.url)
        }
        position += Int64(count)
        return count
    }

    func seek(to offset: Int64) -> Bool {
        // A stream only "seeks" to where it already is (libcurl rewinds before the first byte).
        if size < 0 { return offset == position }
        guard offset >= 0, offset <= size else { return false }
        if bytes == nil, lseek(fd, off_t(offset), SEEK_SET) < 0 { return false }
        position = offset
        return true
    }
}

/// The sink behind `HTTPClient.download(_:to:resume:progress:)`: a file that grows chunk by
/// chunk, is cut back to the offset each attempt starts from, and is fsynced when complete.
final class FileSink: HTTPBodySink {
    private let fd: Int32
    private let path: String
    private let method: HTTPMethod
    private let url: String
    private var size: Int64

    init(path: String, resume: Bool, method: HTTPMethod, url: String) throws(HTTPError) {
        self.path = path
        self.method = method
        self.url = url
        fd = try FileIO.open(path, O_WRONLY | O_CREAT | (resume ? 0 : O_TRUNC), method: method, url: url)
        do {
            size = try FileIO.size(fd, path: path, method: method, url: url)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    private var closed = false

    func close() {
        if !closed { Glibc.close(fd) }
        closed = true
    }

    deinit { close() }

    var resumeOffset: Int64 { size }

    func begin(_ head: HTTPResponseHead, at offset: Int64) throws {
        guard ftruncate(fd, off_t(offset)) == 0, lseek(fd, off_t(offset), SEEK_SET) >= 0 else {
            throw FileIO.failure("cannot truncate \(path) to \(offset) bytes", method: method, url: url)
        }
        size = offset
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < chunk.count {
            let written = FileIO.retryingEINTR { Glibc.write(fd, chunk.baseAddress! + done, chunk.count - done) }
            guard written > 0 else {
                throw FileIO.failure("cannot write \(path)", method: method, url: url)
            }
            done += written
            size += Int64(written)
        }
    }

    func finish() throws {
        guard fsync(fd) == 0 else { throw FileIO.failure("cannot fsync \(path)", method: method, url: url) }
    }
}
