import COpenSSL

extension Ed25519PublicKey {
    /// Like `isValidSignature(_:for:)`, over bytes the caller already holds contiguously, so a
    /// large message (a 10 MB targets payload) is not copied first.
    public func isValidSignature(_ signature: [UInt8], forBytes message: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == 64 else { return false }
        guard let key = raw.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
        }) else { return false }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else { return false }
        let ok = signature.withUnsafeBufferPointer { s in
            EVP_DigestVerify(context, s.baseAddress, s.count,
                             message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        }
        ERR_clear_error()
        return ok == 1
    }
}

extension ECDSAP256PublicKey {
    public func isValidSignature(_ signature: [UInt8], forBytes message: UnsafeRawBufferPointer) -> Bool {
        key.verifySHA256(signature, message: message, pss: false)
    }
}

extension RSAPublicKey {
    public func isValidPSSSignature(_ signature: [UInt8], forBytes message: UnsafeRawBufferPointer) -> Bool {
        key.verifySHA256(signature, message: message, pss: true)
    }
}
