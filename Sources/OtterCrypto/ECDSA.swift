import COpenSSL

/// An ECDSA P-256 public key, read from and written as PEM SubjectPublicKeyInfo (TUF `ecdsa`).
public struct ECDSAP256PublicKey: Sendable {
    let key: OpenSSLKey

    public init(pem: String) throws {
        let key = try OpenSSLKey.publicKey(pem: pem)
        guard key.kind == .ecP256 else { throw CryptoError("the PEM public key is not an ECDSA P-256 key") }
        self.key = key
    }

    init(key: OpenSSLKey) { self.key = key }

    public var pem: String { get throws { try key.publicPEM } }

    /// True when `signature` (ASN.1 DER) is a valid ECDSA-SHA256 signature of `message`.
    public func isValidSignature(_ signature: [UInt8], for message: some Collection<UInt8>) -> Bool {
        message.withContiguousBytes { key.verifySHA256(signature, message: $0, pss: false) }
    }
}

public struct ECDSAP256PrivateKey: Sendable {
    let key: OpenSSLKey

    /// A fresh key from OpenSSL's generator.
    public init() throws {
        key = try OpenSSLKey.generate("EC") { EVP_PKEY_CTX_set_group_name($0, "P-256") }
    }

    public init(pem: String) throws {
        let key = try OpenSSLKey.privateKey(pem: pem)
        guard key.kind == .ecP256 else { throw CryptoError("the PEM private key is not an ECDSA P-256 key") }
        self.key = key
    }

    public var publicKey: ECDSAP256PublicKey { ECDSAP256PublicKey(key: key) }

    /// PKCS#8 PEM, unencrypted.
    public var pem: String { get throws { try key.privatePEM } }

    /// An ECDSA-SHA256 signature in ASN.1 DER.
    public func signature(for message: some Collection<UInt8>) throws -> [UInt8] {
        try message.withContiguousBytes { try key.signSHA256($0, pss: false) }
    }
}
