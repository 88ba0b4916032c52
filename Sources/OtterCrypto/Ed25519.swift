import COpenSSL

/// An Ed25519 public key (32 bytes), as OSTree and TUF store it.
public struct Ed25519PublicKey: Hashable, Sendable {
    public let raw: [UInt8]

    public init(raw: [UInt8]) throws {
        guard raw.count == 32 else { throw CryptoError("an ed25519 public key is 32 bytes, got \(raw.count)") }
        self.raw = raw
    }

    /// The base64 form used in OSTree key files and `verification-ed25519-key`.
    public init(base64: some StringProtocol) throws {
        guard let raw = Base64.decode(base64) else { throw CryptoError("ed25519 public key is not valid base64") }
        try self.init(raw: raw)
    }

    public var base64: String { Base64.encode(raw) }

    /// True when `signature` is a valid Ed25519 signature of `message` by this key.
    public func isValidSignature(_ signature: [UInt8], for message: some Collection<UInt8>) -> Bool {
        let bytes = Array(message)
        return bytes.withUnsafeBytes { isValidSignature(signature, forBytes: $0) }
    }
}

/// An Ed25519 private key. OSTree writes it as 64 bytes (seed followed by the public key).
public struct Ed25519PrivateKey: Sendable {
    public let seed: [UInt8]
    public let publicKey: Ed25519PublicKey

    /// A fresh key from OpenSSL's random generator.
    public init() throws {
        var seed = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&seed, 32) == 1 else { throw CryptoError.openssl("RAND_bytes") }
        try self.init(seed: seed)
    }

    public init(seed: [UInt8]) throws {
        guard seed.count == 32 else { throw CryptoError("an ed25519 seed is 32 bytes, got \(seed.count)") }
        let key = try Self.makeKey(seed)
        defer { EVP_PKEY_free(key) }
        var length = 32
        var pub = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_get_raw_public_key(key, &pub, &length) == 1 else {
            throw CryptoError.openssl("reading the ed25519 public key")
        }
        self.seed = seed
        self.publicKey = try Ed25519PublicKey(raw: pub)
    }

    /// Accepts the 32-byte seed or OSTree's 64-byte seed+public form (which must agree).
    public init(raw: [UInt8]) throws {
        switch raw.count {
        case 32:
            try self.init(seed: raw)
        case 64:
            try self.init(seed: Array(raw.prefix(32)))
            guard publicKey.raw == Array(raw.suffix(32)) else {
                throw CryptoError("ed25519 secret key: its public half does not match its seed")
            }
        default:
            throw CryptoError("an ed25519 secret key is 32 or 64 bytes, got \(raw.count)")
        }
    }

    public init(base64: some StringProtocol) throws {
        guard let raw = Base64.decode(base64) else { throw CryptoError("ed25519 secret key is not valid base64") }
        try self.init(raw: raw)
    }

    /// OSTree's secret key form: base64 of seed + public key.
    public var ostreeBase64: String { Base64.encode(seed + publicKey.raw) }

    public func signature(for message: some Collection<UInt8>) throws -> [UInt8] {
        let key = try Self.makeKey(seed)
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { throw CryptoError("EVP_MD_CTX_new: out of memory") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1 else {
            throw CryptoError.openssl("ed25519 sign init")
        }
        let bytes = Array(message)
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        let ok = bytes.withUnsafeBufferPointer { m in
            EVP_DigestSign(context, &signature, &length, m.baseAddress, m.count)
        }
        guard ok == 1, length == 64 else { throw CryptoError.openssl("ed25519 sign") }
        return signature
    }

    private static func makeKey(_ seed: [UInt8]) throws -> OpaquePointer {
        guard let key = seed.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
        }) else { throw CryptoError.openssl("loading the ed25519 key") }
        return key
    }
}
