#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where trusted files live: the metadata directory, or the artifact directory. A name is one
/// flat file name (already percent-encoded by the caller).
public protocol TrustedStore: AnyObject {
    func read(_ name: String) -> [UInt8]?
    /// Replaces `name` atomically with exactly `bytes`.
    func write(_ name: String, _ bytes: [UInt8]) throws(TUFError)
}

/// A directory on disk. Writes go to a hidden temporary file (`.<name>.tmp`, never ending in
/// `.json`) that is fsynced and renamed over the target, so a reader (or a power cut) sees the
/// old bytes or the new ones, never a mix.
public final class DirectoryStore: TrustedStore {
    public let path: String

    public init(path: String) { self.path = path }

    /// Creates the directory (and its parents) when missing.
    public static func creating(path: String) throws(TUFError) -> DirectoryStore {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0, errno != EEXIST {
                throw TUFError(.storage, "cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        return DirectoryStore(path: path)
    }

    private func full(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }

    public func read(_ name: String) -> [UInt8]? { readFile(full(name)) }

    public func write(_ name: String, _ bytes: [UInt8]) throws(TUFError) {
        let temporary = full(".\(name).tmp")
        let target = full(name)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TUFError(.storage, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        let ok: Bool = bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
        let synced = ok && fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        close(fd)
        guard synced else {
            unlink(temporary)
            throw TUFError(.storage, "cannot write \(temporary): \(reason)")
        }
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TUFError(.storage, "cannot rename \(temporary) to \(target): \(reason)")
        }
        let dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}

/// Reads a whole regular file; nil when it does not exist or cannot be read.
func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(Int(info.st_size))
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

/// An in-memory store, for tests and for callers that keep nothing.
public final class MemoryStore: TrustedStore {
    public var files: [String: [UInt8]]
    public private(set) var writes: [String] = []

    public init(_ files: [String: [UInt8]] = [:]) { self.files = files }
    public func read(_ name: String) -> [UInt8]? { files[name] }
    public func write(_ name: String, _ bytes: [UInt8]) throws(TUFError) {
        files[name] = bytes
        writes.append(name)
    }
}

/// TUF-CLIENT-CLI §2: every byte except `A-Z a-z 0-9 _ . - ~` becomes `%XX` (uppercase hex).
public func percentEncode(_ text: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for c in text.utf8 {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."),
             UInt8(ascii: "-"), UInt8(ascii: "~"):
            out.append(c)
        default:
            out += [UInt8(ascii: "%"), hex[Int(c >> 4)], hex[Int(c & 15)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}
