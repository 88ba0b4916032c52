import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TUF

/// A small HTTP/1.1 file server on 127.0.0.1 (random port) for end-to-end tests: serves
/// `files` by path, 404 otherwise, keeps connections alive, and records requests and
/// connections. `stop()` closes the listening socket, which ends the accept thread.
final class LocalServer: @unchecked Sendable {
    private let lock = NSLock()
    private var files: [String: [UInt8]] = [:]
    private var _requests: [String] = []
    private var _connections = 0
    private let listener: Int32
    let port: Int

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var metadataURL: String { "http://127.0.0.1:\(port)/repo/metadata/" }
    var targetsURL: String { "http://127.0.0.1:\(port)/repo/targets/" }

    func serve(_ repository: TUFRepository) {
        lock.withLock {
            files = [:]
            for (name, bytes) in repository.metadata { files["/repo/metadata/" + name] = bytes }
            for (name, bytes) in repository.artifacts { files["/repo/targets/" + name] = bytes }
        }
    }

    /// Serves every file under `directory` as `/repo/<relative path>`.
    func serveDirectory(_ directory: String) {
        var found: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + relative
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
               let data = FileManager.default.contents(atPath: path) {
                found["/repo/" + relative] = Array(data)
            }
        }
        lock.withLock { files = found }
    }

    func set(_ path: String, _ bytes: [UInt8]?) { lock.withLock { files[path] = bytes } }

    var requests: [String] { lock.withLock { _requests } }
    var connections: Int { lock.withLock { _connections } }
    /// Request paths relative to `/repo/metadata/` (artifacts keep `targets/`).
    var requestNames: [String] {
        requests.map { $0.hasPrefix("/repo/metadata/") ? String($0.dropFirst(15)) : String($0.dropFirst(6)) }
    }
    func reset() { lock.withLock { _requests = []; _connections = 0 } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            lock.withLock { _connections += 1 }
            Thread { [self] in handle(fd) }.start()
        }
    }

    private func handle(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            // Read one request head.
            var end: Int?
            while end == nil {
                if let range = find(buffer, [13, 10, 13, 10]) { end = range; break }
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { return }
                buffer += chunk[0..<n]
            }
            let head = String(decoding: buffer[0..<end!], as: UTF8.self)
            buffer.removeFirst(end! + 4)
            let parts = head.split(separator: "\r\n").first?.split(separator: " ") ?? []
            guard parts.count >= 2 else { return }
            let path = String(parts[1])
            let body: [UInt8]? = lock.withLock {
                _requests.append(path)
                return files[path]
            }
            let status = body == nil ? "404 Not Found" : "200 OK"
            let payload = body ?? Array("<html>not found</html>".utf8)
            let response = Array("HTTP/1.1 \(status)\r\nContent-Length: \(payload.count)\r\nConnection: keep-alive\r\n\r\n".utf8) + payload
            var sent = 0
            while sent < response.count {
                let n = response[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return }
                sent += n
            }
        }
    }

    private func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where Array(haystack[i..<i + needle.count]) == needle { return i }
        return nil
    }
}
