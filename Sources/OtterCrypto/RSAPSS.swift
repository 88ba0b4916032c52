import COpenSSL

/// An RSA public key (PEM SubjectPublicKeyInfo) checking RSASSA-PSS-SHA256 signatures (TUF `rsa`).
public struct RSAPublicKey: Sendable {
    let key: OpenSSLKey

    public init(pem: String) throws {
        let key = try OpenSSLKey.publicKey(pem: pem)
        guard key.kind == .rsa else { throw CryptoError("the PEM public key is not an RSA key") }
        guard key.bits >= 2048 else { throw CryptoError("RSA keys shorter than 2048 bits are refused (got \(key.bits))") }
        self.key = key
    }

    init(key: OpenSSLKey) { self.key = key }

    public var pem: String { get throws { try key.publicPEM } }
    public var bits: Int { key.bits }

    /// True when `signature` is a valid RSASSA-PSS signature (SHA-256, MGF1-SHA-256, any salt
    /// length — "auto" — which includes the usual 32) of `message`.
    public func isValidPSSSignature(_ signature: [UInt8], for message: some Collection<UInt8>) -> Bool {
        message.withContiguousBytes { key.verifySHA256(signature, message: $0, pss: true) }
    }
}

public struct RSAPrivateKey: Sendable {
    let key: OpenSSLKey

    /// A fresh key of `bits` bits (3072 by default, as TUF tooling uses).
    public init(bits: Int = 3072) throws {
        key = try OpenSSLKey.generate("RSA") { EVP_PKEY_CTX_set_rsa_keygen_bits($0, Int32(bits)) }
    }

    public init(pem: String) throws {
        let key = try OpenSSLKey.privateKey(pem: pem)
        guard key.kind == .rsa else { throw CryptoError("the PEM private key is not an RSA key") }
        self.key = key
    }

    public var publicKey: RSAPublicKey { RSAPublicKey(key: key) }
    public var pem: String { get throws { try key.privatePEM } }

    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    public func pssSignature(for message: some Collection<UInt8>) throws -> [UInt8] {
        try message.withContiguousBytes { try key.signSHA256($0, pss: true) }
    }
}
