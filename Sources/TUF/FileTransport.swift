import Glibc

/// `TUFTransport` for `file://` URLs: a repository on a mounted disk or USB stick, read with
/// the same length limit as over HTTP. A missing file is `notFound`, so the root N+1 probe
/// ends the walk exactly as a 404 does.
public struct FileTransport: TUFTransport {
    public init() {}

    public func fetch(_ url: String, maxLength: Int) async throws(TUFTransportError) -> [UInt8] {
        guard url.hasPrefix("file://") else { throw .failed(url: url, message: "not a file:// URL") }
        let path = String(url.dropFirst("file://".count))
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .notFound(url: url) }
            throw .failed(url: url, message: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw .failed(url: url, message: String(cString: strerror(errno))) }
            if count == 0 { return bytes }
            guard bytes.count + count <= maxLength else { throw .tooLarge(url: url, limit: maxLength) }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }
}
