import Foundation
import OtterCrypto
import Testing
import TestSupport

/// The factory PKI (root CA → device CA → device certificates from CSRs, and a gateway server
/// certificate), checked with the openssl command line as the independent verifier.
@Suite struct CertificateTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "otter-x509-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { directory + "/" + name }
    func save(_ name: String, _ text: String) throws { try text.write(toFile: file(name), atomically: true, encoding: .utf8) }
    func openssl(_ args: [String]) throws -> (out: String, err: String, status: Int32) { try runProcess("/usr/bin/openssl", args) }

    @Test func deviceCertificateFromACSRChainsToTheRootForOpenSSL() throws {
        let root = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "Factory root", organization: "otter-test"))
        let deviceCA = try root.issueAuthority(subject: DistinguishedName(commonName: "Device CA", organization: "otter-test"))
        let deviceKey = try ECDSAP256PrivateKey()
        let request = try CertificateSigningRequest(subject: DistinguishedName(commonName: "3f2a-device-uuid"), key: deviceKey)
        let parsedRequest = try CertificateSigningRequest(pem: try request.pem)
        try parsedRequest.verifySelfSignature()
        #expect(parsedRequest.subject.commonName == "3f2a-device-uuid")

        let subject = DistinguishedName(commonName: "3f2a-device-uuid", organizationalUnit: "otter-test", businessCategory: "production")
        let device = try deviceCA.issueClient(for: parsedRequest, subject: subject)
        #expect(device.subject["businessCategory"] == "production")
        #expect(device.issuer.commonName == "Device CA")
        #expect(!device.isCertificateAuthority)
        #expect(deviceCA.certificate.isCertificateAuthority)
        #expect(try device.publicKeyPEM == deviceKey.publicKey.pem)
        #expect(device.serialNumberHex.count >= 30)
        #expect(device.notAfter > device.notBefore)
        try device.verify(anchors: [deviceCA.certificate])
        try device.verify(anchors: [root.certificate], intermediates: [deviceCA.certificate])

        try save("root.pem", try root.certificate.pem)
        try save("ca.pem", try deviceCA.certificate.pem)
        try save("device.pem", try device.pem)
        try save("device.csr", try request.pem)
        let verify = try openssl(["verify", "-CAfile", file("root.pem"), "-untrusted", file("ca.pem"), "-purpose", "sslclient", file("device.pem")])
        #expect(verify.status == 0, "\(verify.out) \(verify.err)")
        let text = try openssl(["x509", "-in", file("device.pem"), "-noout", "-subject"]).out
        #expect(text.contains("businessCategory = production"))
        #expect(try openssl(["req", "-in", file("device.csr"), "-noout", "-verify"]).status == 0)
    }

    @Test func gatewayServerCertificateCarriesItsNames() throws {
        let root = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "Factory root"))
        let serverKey = try ECDSAP256PrivateKey()
        let server = try root.issueServer(subject: DistinguishedName(commonName: "gateway"), key: serverKey,
                                          dnsNames: ["gateway.local", "localhost"], ipAddresses: ["127.0.0.1"])
        #expect(server.subjectAlternativeNames == ["DNS:gateway.local", "DNS:localhost", "IP:127.0.0.1"])
        try save("root.pem", try root.certificate.pem)
        try save("server.pem", try server.pem)
        #expect(try openssl(["verify", "-CAfile", file("root.pem"), "-purpose", "sslserver", file("server.pem")]).status == 0)
        #expect(try openssl(["verify", "-CAfile", file("root.pem"), "-verify_ip", "127.0.0.1", file("server.pem")]).status == 0)
        #expect(try openssl(["verify", "-CAfile", file("root.pem"), "-verify_hostname", "evil.example", file("server.pem")]).status != 0)
        #expect(throws: CryptoError.self) {
            _ = try root.issueServer(subject: DistinguishedName(commonName: "x"), key: serverKey, dnsNames: [])
        }
    }

    @Test func issuesForACSRMadeByOpenSSLAndRejectsAForgedOne() throws {
        #expect(try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                             "-keyout", file("k.pem"), "-subj", "/CN=openssl-device", "-out", file("r.csr")]).status == 0)
        let root = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "Factory root"))
        let request = try CertificateSigningRequest(pem: try String(contentsOfFile: file("r.csr"), encoding: .utf8))
        let cert = try root.issueClient(for: request)
        #expect(cert.subject.commonName == "openssl-device")
        try save("root.pem", try root.certificate.pem)
        try save("c.pem", try cert.pem)
        #expect(try openssl(["verify", "-CAfile", file("root.pem"), file("c.pem")]).status == 0)
        // The certificate's key is the one openssl kept.
        let modulus = try openssl(["pkey", "-in", file("k.pem"), "-pubout"]).out
        #expect(try cert.publicKeyPEM == modulus)

        // A request whose signature was tampered with is refused (proof of possession).
        var der = try Data(contentsOf: URL(fileURLWithPath: file("r.csr")))
        let text = String(decoding: der, as: UTF8.self)
        let body = text.split(separator: "\n").dropFirst().dropLast().joined()
        var bytes = [UInt8](Data(base64Encoded: body)!)
        bytes[bytes.count - 3] ^= 0x55
        der = Data(bytes)
        let forged = "-----BEGIN CERTIFICATE REQUEST-----\n" + der.base64EncodedString(options: .lineLength64Characters)
            + "\n-----END CERTIFICATE REQUEST-----\n"
        let forgedRequest = try CertificateSigningRequest(pem: forged)
        #expect(throws: CryptoError.self) { _ = try root.issueClient(for: forgedRequest) }
    }

    @Test func verificationFailsForAnotherCAAndAfterExpiry() throws {
        let root = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "Factory root"))
        let other = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "Someone else"))
        let request = try CertificateSigningRequest(subject: DistinguishedName(commonName: "d"), key: try ECDSAP256PrivateKey())
        let cert = try root.issueClient(for: request, validityDays: 1)
        let error = #expect(throws: CryptoError.self) { try cert.verify(anchors: [other.certificate]) }
        #expect(error?.description.contains("not trusted") == true)
        #expect(throws: CryptoError.self) { try cert.verify(anchors: [root.certificate], at: cert.notAfter + 86400) }
        try cert.verify(anchors: [root.certificate], at: cert.notBefore + 60)
        // Bundles with several certificates parse in order.
        let bundle = try root.certificate.pem + other.certificate.pem
        #expect(try Certificate.all(pem: bundle).map(\.subject.commonName) == ["Factory root", "Someone else"])
        #expect(throws: CryptoError.self) {
            _ = try CertificateAuthority(certificate: root.certificate, key: other.key)
        }
    }
}
