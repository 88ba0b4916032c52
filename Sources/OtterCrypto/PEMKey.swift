import COpenSSL

/// An OpenSSL `EVP_PKEY` owned by Swift: loaded from PEM or generated, freed in `deinit`.
/// The pointer never leaves OtterCrypto; the public key types below wrap it.
final class OpenSSLKey: @unchecked Sendable {
    // EVP_PKEY is reference-counted and safe to use from several threads once built; it is
    // never mutated after init.
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    enum Kind { case ecP256, rsa, ed25519, other }

    var kind: Kind {
        switch EVP_PKEY_get_base_id(pointer) {
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pointer, &name, name.count, &length) == 1 else { return .other }
            let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return group == "prime256v1" || group == "P-256" ? .ecP256 : .other
        case EVP_PKEY_RSA: return .rsa
        case EVP_PKEY_ED25519: return .ed25519
        default: return .other
        }
    }

    var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    /// Reads a `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) block.
    static func publicKey(pem: String) throws -> OpenSSLKey {
        try withMemoryBIO(pem) { bio in
            guard let key = PEM_read_bio_PUBKEY(bio, nil, nil, nil) else {
                throw CryptoError.openssl("not a PEM SubjectPublicKeyInfo public key")
            }
            return OpenSSLKey(owning: key)
        }
    }

    /// Reads an unencrypted private key in PEM (PKCS#8, or the traditional EC/RSA forms).
    static func privateKey(pem: String) throws -> OpenSSLKey {
        try withMemoryBIO(pem) { bio in
            guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
                throw CryptoError.openssl("not an unencrypted PEM private key")
            }
            return OpenSSLKey(owning: key)
        }
    }

    /// A fresh key: `algorithm` is an OpenSSL name ("EC", "RSA"); `configure` sets parameters.
    static func generate(_ algorithm: String, configure: (OpaquePointer) -> Int32) throws -> OpenSSLKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw CryptoError.openssl("EVP_PKEY_CTX_new_from_name(\(algorithm))")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1, configure(context) == 1 else {
            throw CryptoError.openssl("\(algorithm) key generation setup")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError.openssl("\(algorithm) key generation")
        }
        return OpenSSLKey(owning: key)
    }

    var publicPEM: String {
        get throws {
            try writeToMemoryBIO("writing a PEM public key") { PEM_write_bio_PUBKEY($0, pointer) }
        }
    }

    /// PKCS#8, unencrypted.
    var privatePEM: String {
        get throws {
            try writeToMemoryBIO("writing a PEM private key") {
                PEM_write_bio_PrivateKey($0, pointer, nil, nil, 0, nil, nil)
            }
        }
    }

    /// Verifies `signature` over `message` with SHA-256 (ECDSA DER, or RSA-PSS when `pss`).
    func verifySHA256(_ signature: [UInt8], message: UnsafeRawBufferPointer, pss: Bool) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, EVP_sha256(), nil, pointer) == 1 else {
            ERR_clear_error()
            return false
        }
        if pss {
            // securesystemslib signs with salt = digest length and verifies with "auto",
            // which accepts any salt length, 32 included.
            guard let keyContext,
                  copenssl_pkey_ctx_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                  copenssl_pkey_ctx_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_AUTO) == 1,
                  EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            else { ERR_clear_error(); return false }
        }
        let ok = signature.withUnsafeBufferPointer { s in
            EVP_DigestVerify(context, s.baseAddress, s.count,
                             message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        }
        ERR_clear_error()
        return ok == 1
    }

    /// Signs `message` with SHA-256 (ECDSA gives DER; RSA uses PSS, MGF1-SHA-256, salt 32).
    func signSHA256(_ message: UnsafeRawBufferPointer, pss: Bool) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw CryptoError("EVP_MD_CTX_new: out of memory") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestSignInit(context, &keyContext, EVP_sha256(), nil, pointer) == 1 else {
            throw CryptoError.openssl("sign init")
        }
        if pss {
            guard let keyContext,
                  copenssl_pkey_ctx_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                  copenssl_pkey_ctx_set_rsa_pss_saltlen(keyContext, 32) == 1,
                  EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            else { throw CryptoError.openssl("RSA-PSS parameters") }
        }
        let data = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var length = 0
        guard EVP_DigestSign(context, nil, &length, data, message.count) == 1 else {
            throw CryptoError.openssl("sign (size)")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, data, message.count) == 1 else {
            throw CryptoError.openssl("sign")
        }
        return Array(signature.prefix(length))
    }
}

func withMemoryBIO<T>(_ text: String, _ body: (OpaquePointer) throws -> T) throws -> T {
    var bytes = Array(text.utf8)
    guard bytes.count < Int32.max else { throw CryptoError("PEM text too large") }
    return try bytes.withUnsafeMutableBufferPointer { buffer in
        guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else {
            throw CryptoError.openssl("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        defer { ERR_clear_error() }
        return try body(bio)
    }
}

func writeToMemoryBIO(_ what: String, _ write: (OpaquePointer) -> Int32) throws -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.openssl("BIO_new") }
    defer { BIO_free(bio) }
    guard write(bio) == 1 else { throw CryptoError.openssl(what) }
    var data: UnsafeMutablePointer<CChar>?
    let length = copenssl_bio_get_mem_data(bio, &data)
    guard let data, length > 0 else { throw CryptoError(what) }
    let raw = UnsafeRawBufferPointer(start: data, count: Int(length))
    return String(decoding: raw, as: UTF8.self)
}

extension Collection<UInt8> {
    func withContiguousBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        if let result = try withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(self).withUnsafeBytes(body)
    }
}
