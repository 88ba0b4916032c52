import FoundationEssentials
import HTTP
import OtterCrypto

/// Renews the device certificate before it expires (`otter register --renew`, and the daemon
/// within `[servers] cert_renew_days` of expiry): a CSR for the same subject and key goes to the
/// gateway's `POST /certificate/renew` over mTLS with the current certificate; the answer must
/// chain to the factory root and carry this key, and replaces `client.pem` atomically (the key
/// file is never touched).
public struct CertificateRenewer: Sendable {
    public let gatewayURL: String
    public let certificatePath: String
    public let keyPath: String
    public let rootCAPath: String
    let client: HTTPClient

    public init?(configuration config: OtterConfiguration) {
        guard let url = config.servers.gatewayURL, let certificate = config.servers.tlsClientCertificate,
              let key = config.servers.tlsClientKey, let root = config.servers.tlsCACertificate else { return nil }
        gatewayURL = url
        certificatePath = certificate
        keyPath = key
        rootCAPath = root
        client = HTTPClient(configuration: .init(tls: config.servers.tls,
                                                 timeouts: .init(connect: .seconds(15), overall: .seconds(60)), retry: .init(maxAttempts: 2)))
    }

    public func currentCertificate() throws -> Certificate {
        try Certificate(pem: try Self.read(certificatePath))
    }

    /// The certificate expires within `days` of `date`.
    public func isDue(at date: Date, withinDays days: Int) throws -> Bool {
        Double(try currentCertificate().notAfter) - date.timeIntervalSince1970 < Double(days) * 86400
    }

    @discardableResult
    public func renew() async throws -> Certificate {
        let current = try currentCertificate()
        let key = try ECDSAP256PrivateKey(pem: try Self.read(keyPath))
        let request = try CertificateSigningRequest(subject: current.subject, key: key)
        let body = try JSONEncoder().encode(["csr": try request.pem])
        let response = try await client.send(HTTPRequest(method: .post, url: gatewayURL + "/certificate/renew",
                                                         headers: ["Content-Type": "application/json"], body: .bytes(Array(body))))
        guard response.status == 200 else {
            throw UpdaterError("the gateway refused to renew the device certificate (HTTP \(response.status)): \(String(decoding: response.body.prefix(300), as: UTF8.self)); the current certificate stays in place")
        }
        let files = try JSONDecoder().decode([String: String].self, from: Data(response.body))
        guard let leafPEM = files["client.pem"] else { throw UpdaterError("the gateway's renewal answer has no client.pem; nothing was written") }
        let issued = try Certificate(pem: leafPEM)
        let intermediates = try files["client.chained"].map { try Certificate.all(pem: $0) } ?? []
        do {
            try issued.verify(anchors: [try Certificate(pem: try Self.read(rootCAPath))], intermediates: intermediates)
        } catch {
            throw UpdaterError("the renewed certificate does not chain to the factory root CA \(rootCAPath): \(error); nothing was written")
        }
        guard try issued.publicKeyPEM == key.publicKey.pem, issued.subject.commonName == current.subject.commonName else {
            throw UpdaterError("the renewed certificate is not for this device's key and uuid; nothing was written")
        }
        try writeFileAtomically(files["client.chained"] ?? leafPEM, to: certificatePath, mode: 0o644)
        return issued
    }

    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UpdaterError("cannot read \(path); is the device registered (`otter whoami`)?")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
