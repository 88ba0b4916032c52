import HTTP

/// What failed in the registry client or the blob store, on which repository or digest, and what
/// to try next.
public enum OCIError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidDigest(String, reason: String)
    case invalidReference(String, reason: String)
    case invalidManifest(String, reason: String)
    /// A document was larger than its limit (endless-data protection).
    case tooLarge(what: String, limit: Int64)
    /// Bytes did not hash to the digest that named them; they were discarded.
    case digestMismatch(what: String, expected: OCIDigest, actual: OCIDigest)
    /// Bytes had another length than the descriptor said; they were discarded.
    case sizeMismatch(what: String, digest: OCIDigest, expected: Int64, actual: Int64)
    /// The registry refused the credentials (or there were none) for a repository.
    case unauthorized(registry: String, repository: String, reason: String)
    /// The registry does not have the manifest, blob or repository.
    case notFound(what: String)
    /// A platform was asked for that the image index does not list.
    case noMatchingPlatform(repository: String, wanted: String, available: [String])
    /// The registry answered something the client cannot use.
    case registry(what: String, reason: String)
    /// A transfer failed; `http` says how.
    case transfer(what: String, http: String)
    /// A store file operation failed.
    case fileSystem(path: String, operation: String, errno: Int32, message: String)
    /// The blobs still to fetch plus the reserve do not fit on the store's volume.
    case insufficientSpace(volume: String, needed: Int64, available: Int64)

    public var description: String {
        switch self {
        case .invalidDigest(let text, let reason):
            return "invalid digest \"\(text)\": \(reason)"
        case .invalidReference(let text, let reason):
            return "invalid image reference \"\(text)\": \(reason); expected registry/repository@sha256:<hex> or registry/repository:tag"
        case .invalidManifest(let what, let reason):
            return "invalid manifest \(what): \(reason)"
        case .tooLarge(let what, let limit):
            return "\(what) is larger than the limit of \(limit) bytes; the registry may be misconfigured or malicious"
        case .digestMismatch(let what, let expected, let actual):
            return "\(what): content does not match its digest: expected \(expected), got \(actual); the bytes were discarded, the registry's copy is corrupt or was tampered with"
        case .sizeMismatch(let what, let digest, let expected, let actual):
            return "\(what) (\(digest)): expected \(expected) bytes, got \(actual); the bytes were discarded"
        case .unauthorized(let registry, let repository, let reason):
            return "registry \(registry) refused access to \(repository): \(reason); check the registry credentials configured for the device"
        case .notFound(let what):
            return "\(what) not found in the registry; check the reference (was it pushed, is the digest right?)"
        case .noMatchingPlatform(let repository, let wanted, let available):
            return "\(repository) has no image for platform \(wanted) (it has: \(available.joined(separator: ", ")))"
        case .registry(let what, let reason):
            return "\(what): \(reason)"
        case .transfer(let what, let http):
            return "\(what): \(http)"
        case .fileSystem(let path, let operation, _, let message):
            return "cannot \(operation) \(path): \(message); check free space and permissions of the app store"
        case .insufficientSpace(let volume, let needed, let available):
            return "not enough space for the app store at \(volume): \(needed) bytes needed (missing blobs plus the reserve), \(available) available; nothing was downloaded. Free space on that volume or lower the reserve"
        }
    }
}
