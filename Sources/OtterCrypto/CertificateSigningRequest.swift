import COpenSSL

/// A PKCS#10 certificate signing request: a device makes one with its own key, the factory
/// answers with a certificate, and the private key never leaves the device.
public final class CertificateSigningRequest: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_REQ_free(pointer) }

    /// A request for `subject`, signed with `key` (ECDSA P-256, SHA-256).
    public convenience init(subject: DistinguishedName, key: ECDSAP256PrivateKey) throws {
        guard let request = X509_REQ_new() else { throw CryptoError.openssl("X509_REQ_new") }
        self.init(owning: request)
        let name = try subject.make()
        defer { X509_NAME_free(name) }
        guard X509_REQ_set_version(request, 0) == 1,
              X509_REQ_set_subject_name(request, name) == 1,
              X509_REQ_set_pubkey(request, key.key.pointer) == 1,
              X509_REQ_sign(request, key.key.pointer, EVP_sha256()) > 0 else {
            throw CryptoError.openssl("making a certificate request for \(subject)")
        }
    }

    public convenience init(pem: String) throws {
        let pointer = try withMemoryBIO(pem) { bio in
            guard let request = PEM_read_bio_X509_REQ(bio, nil, nil, nil) else {
                throw CryptoError.openssl("not a PEM certificate request")
            }
            return request
        }
        self.init(owning: pointer)
    }

    public var pem: String {
        get throws { try writeToMemoryBIO("writing a PEM certificate request") { PEM_write_bio_X509_REQ($0, pointer) } }
    }

    public var subject: DistinguishedName { DistinguishedName(reading: X509_REQ_get_subject_name(pointer)) }

    public var publicKeyPEM: String {
        get throws {
            guard let key = X509_REQ_get0_pubkey(pointer) else { throw CryptoError.openssl("request has no public key") }
            return try writeToMemoryBIO("writing a PEM public key") { PEM_write_bio_PUBKEY($0, key) }
        }
    }

    /// Throws unless the request is signed by the key it carries (proof of possession).
    public func verifySelfSignature() throws {
        guard let key = X509_REQ_get0_pubkey(pointer), X509_REQ_verify(pointer, key) == 1 else {
            ERR_clear_error()
            throw CryptoError("the certificate request for \(subject) is not signed by its own key")
        }
    }
}
