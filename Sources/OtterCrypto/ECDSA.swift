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

extension ECDSAP256PrivateKey {
    /// An ECDSA-SHA256 signature as JWS `ES256` wants it (RFC 7518 §3.4): r and s as 32-byte
    /// big-endian integers, concatenated.
    public func jwsSignature(for message: some Collection<UInt8>) throws -> [UInt8] {
        let der = try signature(for: message)
        var input: UnsafePointer<UInt8>? = nil
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            input = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &input, buffer.count)
        }
        guard let parsed else { throw CryptoError.openssl("reading the DER ECDSA signature") }
        defer { ECDSA_SIG_free(parsed) }
        var out = [UInt8](repeating: 0, count: 64)
        let written = out.withUnsafeMutableBufferPointer { buffer in
            BN_bn2binpad(ECDSA_SIG_get0_r(parsed), buffer.baseAddress, 32)
                + BN_bn2binpad(ECDSA_SIG_get0_s(parsed), buffer.baseAddress! + 32, 32)
        }
        guard written == 64 else { throw CryptoError("an ECDSA P-256 signature component does not fit 32 bytes") }
        return out
    }
}

extension ECDSAP256PublicKey {
    /// True when `signature` is a JWS `ES256` signature (r ‖ s, 64 bytes) of `message`.
    public func isValidJWSSignature(_ signature: [UInt8], for message: some Collection<UInt8>) -> Bool {
        guard signature.count == 64, let sig = ECDSA_SIG_new() else { return false }
        defer { ECDSA_SIG_free(sig) }
        let r = signature.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        let s = signature.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
        guard let r, let s, ECDSA_SIG_set0(sig, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return false
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(sig, &out)
        guard length > 0, let out else { return false }
        defer { CRYPTO_free(out, #fileID, #line) }
        return isValidSignature(Array(UnsafeBufferPointer(start: out, count: Int(length))), for: message)
    }
}
