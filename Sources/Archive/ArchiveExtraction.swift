import CArchive
import Glibc

/// Limits for extracting an archive that came from the network.
public struct ExtractionLimits: Sendable {
    public var maxEntries: Int
    public var maxTotalBytes: Int64

    public init(maxEntries: Int = 10_000, maxTotalBytes: Int64 = 1 << 30) {
        self.maxEntries = maxEntries
        self.maxTotalBytes = maxTotalBytes
    }
}

extension ArchiveReader {
    /// Extracts every remaining entry below `directory` (which must exist) and returns the
    /// entries written. Regular files, directories and symlinks only; an entry with an absolute
    /// path, a `..` component, a path through a symlink, a hard link or a device node fails the
    /// whole extraction with `.unsafeEntry`. Files get their mode from the archive (no setuid),
    /// never its owner or times.
    @discardableResult
    public func extract(into directory: String, limits: ExtractionLimits = ExtractionLimits()) throws -> [ArchiveEntry] {
        guard let disk = archive_write_disk_new() else {
            throw ArchiveError(.writeFailed, archive: displayName, message: "libarchive could not allocate a disk writer")
        }
        defer { archive_write_free(disk) }
        // Paths are checked here (`relativePath`) and joined to `directory`, which is absolute
        // itself, so libarchive's NOABSOLUTEPATHS cannot be used; it still refuses `..` and
        // writing through symlinks.
        let options = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_PERM
        archive_write_disk_set_options(disk, Int32(options))

        var written: [ArchiveEntry] = []
        var totalBytes: Int64 = 0
        while true {
            var header: OpaquePointer?
            let status = archive_read_next_header(rawHandle, &header)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let header else {
                throw ArchiveError.fromLibarchive(rawHandle, .unreadable, archive: displayName, doing: "cannot read the next entry")
            }
            let entry = ArchiveEntry(header)
            guard let relative = entry.relativePath else {
                if entry.path == "." || entry.path == "./" { continue }
                throw ArchiveError(.unsafeEntry, archive: displayName, message: "entry \(entry.path) points outside the destination")
            }
            switch entry.kind {
            case .file, .directory: break
            case .symlink(let target):
                guard !target.hasPrefix("/"), !target.split(separator: "/").contains("..") else {
                    throw ArchiveError(.unsafeEntry, archive: displayName, message: "symlink \(entry.path) → \(target) points outside the destination")
                }
            case .hardlink, .other:
                throw ArchiveError(.unsafeEntry, archive: displayName, message: "entry \(entry.path) is a hard link or special file")
            }
            written.append(entry)
            totalBytes += max(entry.size, 0)
            guard written.count <= limits.maxEntries else {
                throw ArchiveError(.tooLarge, archive: displayName, message: "more than \(limits.maxEntries) entries")
            }
            guard totalBytes <= limits.maxTotalBytes else {
                throw ArchiveError(.tooLarge, archive: displayName, message: "more than \(limits.maxTotalBytes) bytes of content")
            }
            archive_entry_set_pathname(header, directory + "/" + relative)
            archive_entry_set_uid(header, 0)
            archive_entry_set_gid(header, 0)
            archive_entry_set_perm(header, archive_entry_perm(header) & 0o777)
            guard archive_write_header(disk, header) == ARCHIVE_OK else {
                throw ArchiveError.fromLibarchive(disk, .writeFailed, archive: displayName, doing: "cannot create \(relative)")
            }
            if case .file = entry.kind {
                var buffer: UnsafeRawPointer?
                var size = 0
                var offset: la_int64_t = 0
                while true {
                    let readStatus = archive_read_data_block(rawHandle, &buffer, &size, &offset)
                    if readStatus == ARCHIVE_EOF { break }
                    guard readStatus == ARCHIVE_OK || readStatus == ARCHIVE_WARN else {
                        throw ArchiveError.fromLibarchive(rawHandle, .unreadable, archive: displayName, doing: "cannot read \(relative)")
                    }
                    guard archive_write_data_block(disk, buffer, size, offset) >= 0 else {
                        throw ArchiveError.fromLibarchive(disk, .writeFailed, archive: displayName, doing: "cannot write \(relative)")
                    }
                }
            }
            guard archive_write_finish_entry(disk) == ARCHIVE_OK else {
                throw ArchiveError.fromLibarchive(disk, .writeFailed, archive: displayName, doing: "cannot finish \(relative)")
            }
        }
        guard archive_write_close(disk) == ARCHIVE_OK else {
            throw ArchiveError.fromLibarchive(disk, .writeFailed, archive: displayName, doing: "cannot finish extraction")
        }
        return written
    }
}
