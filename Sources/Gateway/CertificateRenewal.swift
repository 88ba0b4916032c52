import Factory
import FoundationEssentials
import Hummingbird
import OtterCrypto

/// `POST /certificate/renew` (mTLS): a registered device sends `{"csr": PEM}` for its own UUID
/// and key while its current certificate is still valid, and gets a new certificate from the
/// device CA (`{"client.pem", "client.chained"}`), with the same subject (OU, production mark)
/// as the one it presented. The key stays the device's: the fleet database pins it, so a CSR
/// for another key is refused (rotation needs a re-registration).
extension DeviceGateway {
    func renewCertificate(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let identity = try context.device()
        var request = request
        let body = try await self.body(&request, limit: 64 << 10)
        let pem = try reportChecked { () throws(ReportError) -> String in
            let object = try members(of: try ReportJSON.parse(body, what: "the renewal body"), "the renewal body", required: ["csr"])
            guard let csr = object["csr"]?.string else { throw ReportError("the renewal body: \"csr\" must be a PEM string") }
            return csr
        }
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(pem: pem)
            try csr.verifySelfSignature()
        } catch {
            throw HTTPError(.badRequest, message: "the CSR is not a valid self-signed PKCS#10 request: \(error)")
        }
        guard csr.subject.commonName == identity.uuid else {
            throw HTTPError(.badRequest, message: "the CSR's CN is \(csr.subject.commonName ?? "missing"); a device renews only its own certificate (\(identity.uuid))")
        }
        guard try csr.publicKeyPEM == identity.publicKeyPEM else {
            throw HTTPError(.badRequest, message: "the CSR is for another key; renewal keeps the device's registered key (register again to change it)")
        }
        let factoryName = ((try? await database.setting("factory.name")) ?? nil) ?? csr.subject["OU"] ?? ""
        let subject = DistinguishedName(commonName: identity.uuid, organizationalUnit: factoryName,
                                        businessCategory: identity.isProduction ? "production" : nil)
        let authority = try CertificateAuthority(
            certificate: Certificate(pem: try readText(factory.pkiDirectory + "/device-ca.crt")),
            key: ECDSAP256PrivateKey(pem: try readText(factory.pkiDirectory + "/device-ca.key")))
        let issued = try authority.issueClient(for: csr, subject: subject, validityDays: Registrar.certificateValidityDays)
        let leaf = try issued.pem
        return try jsonResponse(["client.pem": leaf, "client.chained": leaf + (try authority.certificate.pem)])
    }
}
