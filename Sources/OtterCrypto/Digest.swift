import COpenSSL

/// Hash algorithms used across Otter (TUF hashes, OCI digests, certificate fingerprints).
public enum DigestAlgorithm: String, Sendable, CaseIterable {
    case sha256
    case sha512

    var evp: OpaquePointer? {
        switch self {
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        }
    }

    public var byteCount: Int {
        switch self {
        case .sha256: 32
        case .sha512: 64
        }
    }
}

/// An incremental hash, fed chunk by chunk while data streams to disk.
public final class Hasher {
    private let context: OpaquePointer
    public let algorithm: DigestAlgorithm

    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        self.context = context
        precondition(EVP_DigestInit_ex(context, algorithm.evp, nil) == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        let copy = Array(bytes)
        copy.withUnsafeBytes { update($0) }
    }

    /// Finishes the hash; the hasher must not be used afterwards.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return Array(out.prefix(Int(length)))
    }
}

public enum Digest {
    public static func hash<Bytes: Sequence>(_ bytes: Bytes, _ algorithm: DigestAlgorithm) -> [UInt8]
    where Bytes.Element == UInt8 {
        let hasher = Hasher(algorithm)
        hasher.update(bytes)
        return hasher.finalize()
    }

    public static func sha256<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        hash(bytes, .sha256)
    }
}
