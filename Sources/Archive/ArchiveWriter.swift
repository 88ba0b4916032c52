import CArchive
import Glibc

/// Writes a reproducible tar stream: every entry owned by 0:0 with zeroed times and no user
/// names, so the same files always give the same bytes (and the same digest).
public final class ArchiveWriter {
    public enum Compression: Sendable {
        case none
        /// gzip without a timestamp in its header.
        case gzip
    }

    private let handle: OpaquePointer
    private let name: String
    private var finished = false

    /// Writes to the file at `path` (created or truncated).
    public convenience init(path: String, compression: Compression) throws(ArchiveError) {
        try self.init(name: path, compression: compression) { handle in archive_write_open_filename(handle, path) }
    }

    /// Writes to an open file descriptor (a pipe to an HTTP upload, say); the caller closes it.
    public convenience init(fileDescriptor fd: Int32, name: String, compression: Compression) throws(ArchiveError) {
        try self.init(name: name, compression: compression) { handle in archive_write_open_fd(handle, fd) }
    }

    private init(name: String, compression: Compression, open: (OpaquePointer) -> Int32) throws(ArchiveError) {
        self.name = name
        guard let handle = archive_write_new() else {
            throw ArchiveError(.writeFailed, archive: name, message: "libarchive could not allocate a writer")
        }
        self.handle = handle
        // pax_restricted is ustar unless a long name needs an extended header; docker and
        // containerd read both.
        archive_write_set_format_pax_restricted(handle)
        if compression == .gzip {
            archive_write_add_filter_gzip(handle)
            // No timestamp or file name in the gzip header: reproducible bytes.
            archive_write_set_filter_option(handle, "gzip", "timestamp", nil)
        }
        // No padding of the last block to 10 KiB: the stream ends where its data ends.
        archive_write_set_bytes_in_last_block(handle, 1)
        guard open(handle) == ARCHIVE_OK else {
            finished = true  // deinit frees the handle; there is nothing to close
            throw ArchiveError.fromLibarchive(handle, .writeFailed, archive: name, doing: "cannot open for writing")
        }
    }

    deinit {
        if !finished { archive_write_close(handle) }
        archive_write_free(handle)
    }

    public func addDirectory(_ path: String, mode: UInt32 = 0o755) throws(ArchiveError) {
        try writeHeader(path, type: carchive_ifdir, mode: mode, size: 0)
    }

    public func addFile(_ path: String, bytes: [UInt8], mode: UInt32 = 0o644) throws(ArchiveError) {
        try writeHeader(path, type: carchive_ifreg, mode: mode, size: Int64(bytes.count))
        var failure: ArchiveError?
        bytes.withUnsafeBytes { buffer in
            do throws(ArchiveError) { try writeData(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Adds the file at `source` under `path`, streaming it in 256 KiB blocks.
    public func addFile(_ path: String, contentsOf source: String, mode: UInt32? = nil) throws(ArchiveError) {
        let fd = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("cannot open \(source)") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw systemError("cannot stat \(source)") }
        try writeHeader(path, type: carchive_ifreg, mode: mode ?? UInt32(info.st_mode & 0o7777), size: Int64(info.st_size))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = Int64(info.st_size)
        while remaining > 0 {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw systemError("cannot read \(source)") }
            try writeData(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            remaining -= Int64(count)
        }
    }

    public func addSymlink(_ path: String, target: String) throws(ArchiveError) {
        try writeHeader(path, type: carchive_iflnk, mode: 0o777, size: 0, symlink: target)
    }

    /// Writes the end-of-archive blocks and flushes the compressor. Required: an archive that is
    /// never finished is truncated.
    public func finish() throws(ArchiveError) {
        guard !finished else { return }
        finished = true
        guard archive_write_close(handle) == ARCHIVE_OK else {
            throw ArchiveError.fromLibarchive(handle, .writeFailed, archive: name, doing: "cannot finish the archive")
        }
    }

    private func writeHeader(_ path: String, type: UInt32, mode: UInt32, size: Int64, symlink: String? = nil) throws(ArchiveError) {
        guard let entry = archive_entry_new() else {
            throw ArchiveError(.writeFailed, archive: name, message: "libarchive could not allocate an entry")
        }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, path)
        archive_entry_set_filetype(entry, type)
        archive_entry_set_perm(entry, mode_t(mode & 0o7777))
        archive_entry_set_size(entry, size)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        archive_entry_set_mtime(entry, 0, 0)
        if let symlink { archive_entry_set_symlink(entry, symlink) }
        guard archive_write_header(handle, entry) == ARCHIVE_OK else {
            throw ArchiveError.fromLibarchive(handle, .writeFailed, archive: name, doing: "cannot add \(path)")
        }
    }

    private func writeData(_ buffer: UnsafeRawBufferPointer) throws(ArchiveError) {
        var offset = 0
        while offset < buffer.count {
            let written = archive_write_data(handle, buffer.baseAddress! + offset, buffer.count - offset)
            guard written > 0 else {
                throw ArchiveError.fromLibarchive(handle, .writeFailed, archive: name, doing: "cannot write data")
            }
            offset += written
        }
    }

    private func systemError(_ what: String) -> ArchiveError {
        ArchiveError(.writeFailed, archive: name, message: "\(what): \(String(cString: strerror(errno)))")
    }
}
