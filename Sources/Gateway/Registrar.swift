import ConfigSyntax
import Factory
import FoundationEssentials
import HTTPTypes
import Hummingbird
import OtterCrypto

/// Device registration (`POST /devices`, the lmp-device-register / factory-registration-ref
/// shape): a valid `OSF-TOKEN` and a CSR signed by its own key, whose CN is the device UUID and
/// whose OU is this factory's name, get a client certificate from the device CA.
public final class Registrar: Sendable {
    public let factoryName: String
    public let gatewayURL: String
    let deviceCA: CertificateAuthority
    let rootPEM: String
    let database: FactoryDatabase
    public static let certificateValidityDays = 7300

    public init(factory: FactoryDirectory, database: FactoryDatabase, gatewayURL: String) async throws {
        let root = try Certificate(pem: try readText(factory.pkiDirectory + "/root.crt"))
        guard let name = root.subject["O"] else {
            throw FactoryError("the factory root CA \(root.subject) has no O (the factory name)")
        }
        factoryName = name
        rootPEM = try root.pem
        deviceCA = try CertificateAuthority(certificate: Certificate(pem: try readText(factory.pkiDirectory + "/device-ca.crt")),
                                            key: ECDSAP256PrivateKey(pem: try readText(factory.pkiDirectory + "/device-ca.key")))
        self.database = database
        self.gatewayURL = gatewayURL
        try await database.setSetting("factory.name", name)
    }

    /// A registration refused, with the HTTP status to answer.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var status: Int
        public var message: String
        public var description: String { message }
    }

    public struct Issued: Sendable {
        public var uuid: String
        /// filename → content: `root.crt`, `client.pem`, `client.chained`, `otter.toml`.
        public var files: [String: String]
    }

    static let bodyMembers: Set<String> = ["name", "uuid", "csr", "hardware-id", "group", "production", "tag", "overrides",
                                           "use-ostree-server", "sota-config-dir"]

    /// Checks the token and the request and issues the device certificate.
    public func register(body: [UInt8], token: String?, at now: Double = Date().timeIntervalSince1970) async throws(Refusal) -> Issued {
        guard let token, !token.isEmpty else {
            throw Refusal(status: 401, message: "no OSF-TOKEN header; create a token with `otter-factory tokens create`")
        }
        let grant: FactoryDatabase.TokenGrant?
        do { grant = try await database.useToken(token, at: now) } catch {
            throw Refusal(status: 500, message: "cannot check the token: \(error)")
        }
        guard let grant else {
            throw Refusal(status: 401, message: "the registration token is unknown or expired; create one with `otter-factory tokens create`")
        }
        let fields: [String: ReportJSON]
        do {
            fields = try members(of: try ReportJSON.parse(body, what: "the registration body"), "the registration body",
                                 required: ["name", "uuid", "csr"], optional: Self.bodyMembers)
        } catch {
            throw Refusal(status: 400, message: error.message)
        }
        func text(_ key: String) throws(Refusal) -> String? {
            switch fields[key] {
            case nil, .null?: return nil
            case .string(let s)? where s.utf8.count <= 16384: return s
            default: throw Refusal(status: 400, message: "\"\(key)\" must be a string")
            }
        }
        guard let uuid = try text("uuid"), DeviceIdentity.isValidUUID(uuid) else {
            throw Refusal(status: 400, message: "\"uuid\" must be a device UUID (letters, digits, - and _)")
        }
        guard let name = try text("name"), !name.isEmpty, name.utf8.count <= 128 else {
            throw Refusal(status: 400, message: "\"name\" must be a non-empty string of at most 128 bytes")
        }
        var production = false
        switch fields["production"] {
        case nil, .null?: break
        case .bool(let value)?: production = value
        default: throw Refusal(status: 400, message: "\"production\" must be true or false")
        }
        if production && !grant.allowProduction {
            throw Refusal(status: 403, message: "this token does not allow production devices; create one with `otter-factory tokens create --production`")
        }
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(pem: try text("csr") ?? "")
            try request.verifySelfSignature()
        } catch {
            throw Refusal(status: 400, message: "the CSR is not a PEM certificate request signed by its own key: \(error)")
        }
        let subject = request.subject
        guard subject.commonName == uuid else {
            throw Refusal(status: 400, message: "the CSR's CN is \(subject.commonName ?? "missing"), not the uuid \(uuid)")
        }
        guard subject["OU"] == factoryName else {
            throw Refusal(status: 400, message: "the CSR's OU is \(subject["OU"] ?? "missing"), not this factory's name \(factoryName)")
        }
        if subject["businessCategory"] == "production" && !production {
            throw Refusal(status: 400, message: "the CSR asks for businessCategory=production but the body does not say \"production\": true")
        }
        let issuedSubject = DistinguishedName(commonName: uuid, organizationalUnit: factoryName,
                                              businessCategory: production ? "production" : nil)
        let certificate: Certificate
        let identity: DeviceIdentity
        do {
            certificate = try deviceCA.issueClient(for: request, subject: issuedSubject, validityDays: Self.certificateValidityDays)
            identity = try DeviceIdentity(certificate: certificate)
        } catch {
            throw Refusal(status: 500, message: "cannot issue the certificate: \(error)")
        }
        if (try? await database.device(uuid)) != nil {
            throw Refusal(status: 409, message: "device \(uuid) is already registered; register with a new uuid")
        }
        let tag = try text("tag")
        let hardwareID = try text("hardware-id")
        do {
            try await database.registerDevice(identity, name: name, hardwareID: hardwareID, group: try text("group"), tag: tag, at: now)
        } catch {
            throw Refusal(status: 409, message: "cannot record device \(uuid): \(error)")
        }
        let leaf = (try? certificate.pem) ?? ""
        let chain = leaf + ((try? deviceCA.certificate.pem) ?? "")
        return Issued(uuid: uuid, files: ["root.crt": rootPEM, "client.pem": leaf, "client.chained": chain,
                                          "otter.toml": fragment(name: name, tag: tag, hardwareID: hardwareID)])
    }

    /// The conf.d fragment a device needs to reach this gateway.
    func fragment(name: String, tag: String?, hardwareID: String?) -> String {
        var lines = ["# Written at registration by the factory \(tomlBasicString(factoryName)).", "[device]", "name = \(tomlBasicString(name))"]
        if let tag { lines.append("tag = \(tomlBasicString(tag))") }
        if let hardwareID { lines.append("hardware_id = \(tomlBasicString(hardwareID))") }
        lines += ["", "[servers]", "tuf_url = \(tomlBasicString(gatewayURL + "/repo"))", "ostree_url = \(tomlBasicString(gatewayURL + "/ostree"))"]
        return lines.joined(separator: "\n") + "\n"
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/factory") { _, _ in
            try jsonResponse(["name": self.factoryName, "gateway": self.gatewayURL])
        }
        router.post("/devices") { request, context in
            var request = request
            let buffer = try await request.collectBody(upTo: 64 << 10)
            let token = HTTPField.Name("OSF-TOKEN").flatMap { request.headers[$0] }
            let issued: Issued
            do throws(Refusal) {
                issued = try await self.register(body: Array(buffer.readableBytesView), token: token)
            } catch {
                throw HTTPError(HTTPResponse.Status(code: error.status), message: error.message)
            }
            return try jsonResponse(issued.files, status: .created)
        }
        return router
    }
}

