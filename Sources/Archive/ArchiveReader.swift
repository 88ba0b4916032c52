import CArchive
import Glibc

/// Reads a tar stream (plain, gzip, or any filter libarchive knows) entry by entry.
///
/// Data is handed out in blocks, so a reader never holds a whole member in memory unless the
/// caller asks for it with `readAll(limit:)`.
public final class ArchiveReader {
    private let handle: OpaquePointer
    private let name: String
    /// Owned copy of an in-memory archive; libarchive reads from it until `deinit`.
    private var memory: UnsafeMutableRawBufferPointer?

    /// Opens the archive file at `path`.
    public init(path: String) throws(ArchiveError) {
        name = path
        handle = try Self.makeHandle(name: path)
        guard archive_read_open_filename(handle, path, 64 * 1024) == ARCHIVE_OK else {
            // deinit frees the handle: every stored property is set by now.
            throw ArchiveError.fromLibarchive(handle, .unreadable, archive: path, doing: "cannot open")
        }
    }

    /// Opens an archive held in memory; `name` is used in error messages.
    public init(bytes: [UInt8], name: String) throws(ArchiveError) {
        self.name = name
        handle = try Self.makeHandle(name: name)
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        copy.copyBytes(from: bytes)
        memory = copy
        guard archive_read_open_memory(handle, copy.baseAddress, bytes.count) == ARCHIVE_OK else {
            throw ArchiveError.fromLibarchive(handle, .unreadable, archive: name, doing: "cannot open")
        }
    }

    deinit {
        archive_read_free(handle)
        memory?.deallocate()
    }

    private static func makeHandle(name: String) throws(ArchiveError) -> OpaquePointer {
        guard let handle = archive_read_new() else {
            throw ArchiveError(.unreadable, archive: name, message: "libarchive could not allocate a reader")
        }
        archive_read_support_filter_all(handle)
        archive_read_support_format_tar(handle)
        return handle
    }

    /// The next entry's header, or nil at the end of the archive. Unread data of the previous
    /// entry is skipped.
    public func next() throws(ArchiveError) -> ArchiveEntry? {
        var entry: OpaquePointer?
        let status = archive_read_next_header(handle, &entry)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            throw ArchiveError.fromLibarchive(handle, .unreadable, archive: name, doing: "cannot read the next entry")
        }
        return ArchiveEntry(entry)
    }

    /// Calls `body` with each block of the current entry's data, in order.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let status = archive_read_data_block(handle, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else {
                throw ArchiveError.fromLibarchive(handle, .unreadable, archive: name, doing: "cannot read entry data")
            }
            try body(UnsafeRawBufferPointer(start: buffer, count: size))
        }
    }

    /// The current entry's data as bytes; fails when it is larger than `limit`.
    public func readAll(limit: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try readData { block in
            guard bytes.count + block.count <= limit else {
                throw ArchiveError(.tooLarge, archive: name, message: "an entry is larger than \(limit) bytes")
            }
            bytes.append(contentsOf: block)
        }
        return bytes
    }

    /// Low-level access for `ArchiveExtraction`, which copies blocks straight to disk.
    var rawHandle: OpaquePointer { handle }
    var displayName: String { name }
}
