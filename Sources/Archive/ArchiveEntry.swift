import CArchive

/// One member of a tar stream, as the reader saw its header.
public struct ArchiveEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case file
        case directory
        case symlink(target: String)
        case hardlink(target: String)
        /// Devices, fifos, sockets: never extracted by Otter.
        case other
    }

    public var path: String
    public var kind: Kind
    public var size: Int64
    public var mode: UInt32

    init(_ entry: OpaquePointer) {
        path = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        size = archive_entry_size(entry)
        mode = UInt32(archive_entry_perm(entry))
        let type = archive_entry_filetype(entry) & carchive_ifmt
        switch type {
        case carchive_ifreg:
            if let target = archive_entry_hardlink(entry) {
                kind = .hardlink(target: String(cString: target))
            } else {
                kind = .file
            }
        case carchive_ifdir: kind = .directory
        case carchive_iflnk: kind = .symlink(target: archive_entry_symlink(entry).map { String(cString: $0) } ?? "")
        default: kind = .other
        }
    }

    /// The path without a leading `./`, or nil when it is absolute or climbs out with `..`.
    public var relativePath: String? {
        var components: [Substring] = []
        if path.hasPrefix("/") { return nil }
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { return nil }
            components.append(part)
        }
        return components.isEmpty ? nil : components.joined(separator: "/")
    }
}
