import OtterCrypto

/// A content digest as the OCI image spec writes it: `<algorithm>:<hex>` (image-spec
/// `descriptor.md` §Digests). Only the registered algorithms sha256 and sha512 are accepted, with
/// their exact lower-case hex length, so a digest can name a file in the blob store safely.
public struct OCIDigest: Hashable, Sendable, CustomStringConvertible, Codable, Comparable {
    public let algorithm: DigestAlgorithm
    /// Lower-case hex, 64 characters for sha256, 128 for sha512.
    public let hex: String

    public init(parsing text: some StringProtocol) throws(OCIError) {
        let string = String(text)
        guard let colon = string.firstIndex(of: ":") else {
            throw OCIError.invalidDigest(string, reason: "expected <algorithm>:<hex>, e.g. sha256:<64 hex digits>")
        }
        guard let algorithm = DigestAlgorithm(rawValue: String(string[..<colon])) else {
            throw OCIError.invalidDigest(string, reason: "unsupported algorithm \"\(string[..<colon])\" (sha256 or sha512)")
        }
        let hex = string[string.index(after: colon)...]
        guard hex.utf8.count == algorithm.byteCount * 2,
              hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw OCIError.invalidDigest(string, reason: "\(algorithm.rawValue) needs \(algorithm.byteCount * 2) lower-case hex digits")
        }
        self.algorithm = algorithm
        self.hex = String(hex)
    }

    /// The digest of hash output bytes already computed with `algorithm`.
    public init(algorithm: DigestAlgorithm, bytes: [UInt8]) {
        precondition(bytes.count == algorithm.byteCount, "digest length does not match \(algorithm)")
        self.algorithm = algorithm
        self.hex = Hex.encode(bytes)
    }

    /// The sha256 digest of `bytes`.
    public static func sha256<Bytes: Sequence>(of bytes: Bytes) -> OCIDigest where Bytes.Element == UInt8 {
        OCIDigest(algorithm: .sha256, bytes: Digest.sha256(bytes))
    }

    /// The digest of `bytes` with this digest's algorithm.
    public func matches<Bytes: Sequence>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        OCIDigest(algorithm: algorithm, bytes: Digest.hash(bytes, algorithm)) == self
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    /// The first 12 hex digits, for progress lines.
    public var short: String { "\(algorithm.rawValue):\(hex.prefix(12))" }

    public static func < (lhs: OCIDigest, rhs: OCIDigest) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try OCIDigest(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
