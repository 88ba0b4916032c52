/// Why a TUF operation failed. `kind` is for programs (and tests); `message` says what failed on
/// which file, for the person reading the log.
public struct TUFError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case malformed          // not valid JSON, or not the metadata shape the spec demands
        case wrongType          // signed._type is not the role expected
        case unsignedThreshold  // not enough valid signatures from the delegated keys
        case badVersion         // version is not the one the referring metadata names
        case rollback           // version (or a listed file's version) went backwards
        case expired            // the freeze attack check: now >= expires
        case lengthOrHashMismatch
        case tooLarge           // the server sent more than the allowed length
        case notFound           // the repository answered 404/403
        case transport          // any other network failure
        case targetNotFound
        case delegationNotInSnapshot
        case storage            // reading or writing a local trusted file
        case unsupportedHash
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
