import COpenSSL
import Glibc

/// An X.509 certificate (`X509`), read from PEM or issued by a `CertificateAuthority`.
public final class Certificate: @unchecked Sendable {
    // Never mutated after init; OpenSSL allows concurrent reads of an X509.
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }

    /// Reads the first `-----BEGIN CERTIFICATE-----` block.
    public convenience init(pem: String) throws {
        let pointer = try withMemoryBIO(pem) { bio in
            guard let cert = PEM_read_bio_X509(bio, nil, nil, nil) else {
                throw CryptoError.openssl("not a PEM certificate")
            }
            return cert
        }
        self.init(owning: pointer)
    }

    /// Every certificate in a PEM bundle, in order.
    public static func all(pem: String) throws -> [Certificate] {
        var result: [Certificate] = []
        var block: [Substring]?
        for line in pem.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("-----BEGIN CERTIFICATE-----") { block = [line]; continue }
            guard block != nil else { continue }
            block!.append(line)
            if line.hasPrefix("-----END CERTIFICATE-----") {
                result.append(try Certificate(pem: block!.joined(separator: "\n") + "\n"))
                block = nil
            }
        }
        guard !result.isEmpty else { throw CryptoError("no PEM certificate in the text") }
        return result
    }

    public var pem: String {
        get throws { try writeToMemoryBIO("writing a PEM certificate") { PEM_write_bio_X509($0, pointer) } }
    }

    public var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(pointer, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    public var sha256Fingerprint: String { Hex.encode(Digest.sha256(der)) }

    public var subject: DistinguishedName { DistinguishedName(reading: X509_get_subject_name(pointer)) }
    public var issuer: DistinguishedName { DistinguishedName(reading: X509_get_issuer_name(pointer)) }

    public var serialNumberHex: String {
        guard let bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(pointer), nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { CRYPTO_free(hex, #fileID, #line) }
        return String(cString: hex).lowercased()
    }

    /// Seconds since the epoch.
    public var notBefore: Int64 { Self.epoch(X509_get0_notBefore(pointer)) }
    public var notAfter: Int64 { Self.epoch(X509_get0_notAfter(pointer)) }

    /// `DNS:name`, `IP:a.b.c.d` and `URI:…` entries of subjectAltName.
    public var subjectAlternativeNames: [String] {
        (try? writeToMemoryBIO("reading subjectAltName") { bio in
            copenssl_write_subject_alt_names(pointer, bio) > 0 ? 1 : 0
        })?.split(separator: "\n").map(String.init) ?? []
    }

    public var isCertificateAuthority: Bool { X509_check_ca(pointer) != 0 }

    /// The subject public key as PEM SubjectPublicKeyInfo.
    public var publicKeyPEM: String {
        get throws {
            guard let key = X509_get0_pubkey(pointer) else { throw CryptoError.openssl("certificate has no public key") }
            return try writeToMemoryBIO("writing a PEM public key") { PEM_write_bio_PUBKEY($0, key) }
        }
    }

    /// Checks that the certificate chains to one of `anchors` (which may be an intermediate
    /// CA: partial chains are allowed) and is valid at `time` (default now); throws with
    /// OpenSSL's reason otherwise.
    public func verify(anchors: [Certificate], intermediates: [Certificate] = [], at time: Int64? = nil) throws {
        guard let store = X509_STORE_new() else { throw CryptoError.openssl("X509_STORE_new") }
        defer { X509_STORE_free(store) }
        for anchor in anchors { X509_STORE_add_cert(store, anchor.pointer) }
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_PARTIAL_CHAIN))
        guard let context = X509_STORE_CTX_new() else { throw CryptoError.openssl("X509_STORE_CTX_new") }
        defer { X509_STORE_CTX_free(context) }
        let untrusted = OPENSSL_sk_new_null()
        defer { OPENSSL_sk_free(untrusted) }
        for cert in intermediates { OPENSSL_sk_push(untrusted, UnsafeRawPointer(cert.pointer)) }
        guard X509_STORE_CTX_init(context, store, pointer, untrusted) == 1 else {
            throw CryptoError.openssl("X509_STORE_CTX_init")
        }
        if let time { X509_STORE_CTX_set_time(context, 0, time_t(time)) }
        let result = withExtendedLifetime((anchors, intermediates)) { X509_verify_cert(context) }
        guard result == 1 else {
            let reason = String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(context))))
            ERR_clear_error()
            throw CryptoError("certificate \(subject) is not trusted: \(reason)")
        }
    }

    static func epoch(_ time: UnsafePointer<ASN1_TIME>?) -> Int64 {
        guard let time else { return 0 }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return 0 }
        return Int64(timegm(&parts))
    }
}
