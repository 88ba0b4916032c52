import Glibc
import HTTP
import OtterCrypto

/// The body sink that writes one blob into `ingest/<hex>.partial`, hashing while it writes.
/// An existing partial file is kept and re-hashed, so the download resumes from its size.
/// It refuses to hold more bytes than the descriptor says (endless-data protection).
final class IngestWriter: HTTPBodySink {
    let path: String
    let descriptor: Descriptor
    private let fd: Int32
    private var hasher: Hasher
    private(set) var written: Int64
    /// Bytes the file held when the writer opened it.
    let initialSize: Int64

    init(path: String, descriptor: Descriptor) throws {
        self.path = path
        self.descriptor = descriptor
        let fd = try StoreFiles.open(path, O_RDWR | O_CREAT)
        // One writer per partial file, also across processes (two `otter apps fetch` at once).
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = StoreFiles.failure("lock (another fetch is writing it)", path)
            close(fd)
            throw error
        }
        self.fd = fd
        hasher = Hasher(descriptor.digest.algorithm)
        do {
            var size = try StoreFiles.size(fd, path)
            if size > descriptor.size {
                try StoreFiles.truncate(fd, path)
                size = 0
            }
            // Re-hash the prefix, so the digest covers every byte of the finished file.
            var offset: Int64 = 0
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while offset < size {
                let n = try buffer.withUnsafeMutableBytes { (raw) throws(OCIError) -> Int in
                    try StoreFiles.read(fd, into: raw, at: offset, path)
                }
                if n == 0 { break }
                hasher.update(buffer.prefix(n))
                offset += Int64(n)
            }
            written = offset
            initialSize = offset
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    var resumeOffset: Int64 { written }
    var isComplete: Bool { written == descriptor.size }

    func begin(_ head: HTTPResponseHead, at offset: Int64) throws {
        guard offset != written else { return }
        guard offset == 0 else {
            throw OCIError.registry(what: "blob \(descriptor.digest)", reason: "the registry resumed at \(offset), not at \(written)")
        }
        // The server sends the whole body again: drop the prefix.
        try StoreFiles.truncate(fd, path)
        hasher = Hasher(descriptor.digest.algorithm)
        written = 0
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard written + Int64(chunk.count) <= descriptor.size else {
            throw OCIError.sizeMismatch(what: "blob", digest: descriptor.digest, expected: descriptor.size,
                                        actual: written + Int64(chunk.count))
        }
        try StoreFiles.writeAll(fd, chunk, at: written, path)
        hasher.update(chunk)
        written += Int64(chunk.count)
    }

    /// The digest of everything written; the writer must not be used for writing afterwards.
    func finalDigest() -> OCIDigest {
        OCIDigest(algorithm: descriptor.digest.algorithm, bytes: hasher.finalize())
    }

    func sync() throws(OCIError) {
        try StoreFiles.sync(fd, path)
    }
}
