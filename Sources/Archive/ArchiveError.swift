import CArchive

/// A libarchive failure with the archive it concerns and libarchive's own message.
public struct ArchiveError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The archive cannot be opened or read, or is not a tar stream.
        case unreadable
        /// An entry would land outside the destination (absolute path, `..`, symlink escape).
        case unsafeEntry
        /// More entries or bytes than the caller's limit: a tar bomb or the wrong file.
        case tooLarge
        /// Writing the archive or extracting it to disk failed.
        case writeFailed
    }

    public var kind: Kind
    /// The archive file, or a short description of an in-memory stream.
    public var archive: String
    public var message: String

    public init(_ kind: Kind, archive: String, message: String) {
        self.kind = kind
        self.archive = archive
        self.message = message
    }

    public var description: String { "\(archive): \(message)" }

    static func fromLibarchive(_ handle: OpaquePointer?, _ kind: Kind, archive: String, doing what: String) -> ArchiveError {
        let text = handle.flatMap { archive_error_string($0) }.map { String(cString: $0) } ?? "unknown libarchive error"
        return ArchiveError(kind, archive: archive, message: "\(what): \(text)")
    }
}
