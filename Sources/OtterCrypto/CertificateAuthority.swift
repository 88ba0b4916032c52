import COpenSSL

/// A CA certificate with its private key: issues CA, server and client certificates
/// (ECDSA P-256, SHA-256, random 128-bit serials).
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let key: ECDSAP256PrivateKey

    public init(certificate: Certificate, key: ECDSAP256PrivateKey) throws {
        guard try certificate.publicKeyPEM == key.publicKey.pem else {
            throw CryptoError("the CA key does not belong to the certificate \(certificate.subject)")
        }
        self.certificate = certificate
        self.key = key
    }

    /// A self-signed root CA.
    public static func makeRoot(subject: DistinguishedName, validityDays: Int = 3650) throws -> CertificateAuthority {
        let key = try ECDSAP256PrivateKey()
        let cert = try build(subject: subject, publicKey: key.key, issuer: nil, signer: key, validityDays: validityDays,
                             extensions: CAExtensions.authority(pathLength: nil))
        return try CertificateAuthority(certificate: cert, key: key)
    }

    /// An intermediate CA below this one (the device CA below the factory root, say).
    public func issueAuthority(subject: DistinguishedName, validityDays: Int = 3650) throws -> CertificateAuthority {
        let newKey = try ECDSAP256PrivateKey()
        let cert = try Self.build(subject: subject, publicKey: newKey.key, issuer: certificate, signer: key,
                                  validityDays: validityDays, extensions: CAExtensions.authority(pathLength: 0))
        return try CertificateAuthority(certificate: cert, key: newKey)
    }

    /// A TLS server certificate for `dnsNames` and `ipAddresses`.
    public func issueServer(subject: DistinguishedName, key serverKey: ECDSAP256PrivateKey, dnsNames: [String],
                            ipAddresses: [String] = [], validityDays: Int = 825) throws -> Certificate {
        let names = dnsNames.map { "DNS:\($0)" } + ipAddresses.map { "IP:\($0)" }
        guard !names.isEmpty else { throw CryptoError("a server certificate needs at least one DNS name or IP address") }
        return try Self.build(subject: subject, publicKey: serverKey.key, issuer: certificate, signer: key,
                              validityDays: validityDays, extensions: CAExtensions.server(names))
    }

    /// A TLS client certificate for the key in `request` (its self-signature is checked), with
    /// the subject the CA decides (normally the request's, plus marks such as OU or
    /// businessCategory).
    public func issueClient(for request: CertificateSigningRequest, subject: DistinguishedName? = nil,
                            validityDays: Int = 3650) throws -> Certificate {
        try request.verifySelfSignature()
        guard let publicKey = X509_REQ_get_pubkey(request.pointer) else { throw CryptoError.openssl("request public key") }
        let owned = OpenSSLKey(owning: publicKey)
        return try Self.build(subject: subject ?? request.subject, publicKey: owned, issuer: certificate, signer: key,
                              validityDays: validityDays, extensions: CAExtensions.client)
    }

    static func build(subject: DistinguishedName, publicKey: OpenSSLKey, issuer: Certificate?, signer: ECDSAP256PrivateKey,
                      validityDays: Int, extensions: [(Int32, String)]) throws -> Certificate {
        guard let x509 = X509_new() else { throw CryptoError.openssl("X509_new") }
        let cert = Certificate(owning: x509)
        let name = try subject.make()
        defer { X509_NAME_free(name) }
        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, 16) == 1 else { throw CryptoError.openssl("RAND_bytes") }
        serial[0] &= 0x7f  // positive
        guard let bn = BN_bin2bn(serial, 16, nil) else { throw CryptoError.openssl("BN_bin2bn") }
        defer { BN_free(bn) }
        guard X509_set_version(x509, 2) == 1,
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) != nil,
              X509_gmtime_adj(X509_getm_notBefore(x509), -300) != nil,
              X509_time_adj_ex(X509_getm_notAfter(x509), Int32(validityDays), 0, nil) != nil,
              X509_set_subject_name(x509, name) == 1,
              X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0.pointer) } ?? name) == 1,
              X509_set_pubkey(x509, publicKey.pointer) == 1 else {
            throw CryptoError.openssl("building the certificate for \(subject)")
        }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer?.pointer ?? x509, x509, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw CryptoError.openssl("certificate extension \(value)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw CryptoError.openssl("adding extension \(value)") }
        }
        guard X509_sign(x509, signer.key.pointer, EVP_sha256()) > 0 else {
            throw CryptoError.openssl("signing the certificate for \(subject)")
        }
        return withExtendedLifetime(publicKey) { cert }
    }
}

enum CAExtensions {
    static func authority(pathLength: Int?) -> [(Int32, String)] {
        [(NID_basic_constraints, "critical,CA:TRUE" + (pathLength.map { ",pathlen:\($0)" } ?? "")),
         (NID_key_usage, "critical,keyCertSign,cRLSign"),
         (NID_subject_key_identifier, "hash")]
    }

    static func server(_ names: [String]) -> [(Int32, String)] {
        [(NID_basic_constraints, "critical,CA:FALSE"),
         (NID_key_usage, "critical,digitalSignature,keyAgreement"),
         (NID_ext_key_usage, "serverAuth"),
         (NID_subject_alt_name, names.joined(separator: ","))]
    }

    static let client: [(Int32, String)] = [
        (NID_basic_constraints, "critical,CA:FALSE"),
        (NID_key_usage, "critical,digitalSignature,keyAgreement"),
        (NID_ext_key_usage, "clientAuth"),
    ]
}
