import Factory
import FoundationEssentials
import Hummingbird

/// `GET /hub-creds/` (REFERENCE §3): the registry credentials a device uses to pull its apps, in
/// the docker credential-helper shape `{"ServerURL", "Username", "Secret"}`. The operator keeps
/// them in `<factory>/registry/hub-creds.json` (same shape, mode 0600); without that file the
/// factory's registry needs none and the route answers 404.
extension DeviceGateway {
    struct HubCredentialsDocument: Codable, Sendable {
        var ServerURL: String?
        var Username: String
        var Secret: String
    }

    var hubCredentialsPath: String { factory.path + "/registry/hub-creds.json" }

    func hubCredentials(_ context: GatewayRequestContext) throws -> Response {
        _ = try context.device()
        guard let data = FileManager.default.contents(atPath: hubCredentialsPath) else {
            throw HTTPError(.notFound, message: "this factory hands out no registry credentials (no registry/hub-creds.json); its registry needs none")
        }
        let document: HubCredentialsDocument
        do {
            document = try JSONDecoder().decode(HubCredentialsDocument.self, from: data)
        } catch {
            throw HTTPError(.internalServerError, message: "the factory's registry/hub-creds.json is not {\"ServerURL\",\"Username\",\"Secret\"}; the operator must fix it")
        }
        return try jsonResponse(document)
    }
}

/// `GET /hub-token?service=S&scope=repository:NAME:pull`: the token realm of a registry that
/// trusts the factory's token signer (`otter-factory registry token-auth`). The device is the
/// one of the connection's client certificate; it gets pull access to the repositories it asks
/// for, never push or delete (a scope asking for more is cut down to pull; one without pull is
/// left out, and the registry refuses what the token does not name).
extension DeviceGateway {
    static let registryTokenLifetime: Int64 = 300

    func registryToken(_ request: Request, _ context: GatewayRequestContext) throws -> Response {
        let device = try context.device()
        let issuer: RegistryTokenIssuer
        do {
            guard let loaded = try RegistryTokenIssuer.load(factory) else {
                throw HTTPError(.notFound, message: "this factory signs no registry tokens (no registry/token.key); set it up with `otter-factory registry token-auth`")
            }
            issuer = loaded
        } catch let error as FactoryError {
            throw HTTPError(.internalServerError, message: error.description)
        }
        let parameters = request.uri.queryParameters
        let service = parameters.get("service") ?? RegistryTokenIssuer.defaultService
        var granted: [RegistryScope] = []
        for value in parameters.getAll("scope") {
            for text in value.split(separator: " ") {
                let scope: RegistryScope
                do { scope = try RegistryScope(parsing: String(text)) } catch {
                    throw HTTPError(.badRequest, message: error.description)
                }
                if scope.type == "repository", let pull = scope.granting(only: ["pull"]) { granted.append(pull) }
            }
        }
        struct Answer: Encodable { var token: String; var access_token: String; var expires_in: Int64 }
        let token = try issuer.token(subject: device.uuid, service: service, access: granted, lifetime: Self.registryTokenLifetime)
        return try jsonResponse(Answer(token: token, access_token: token, expires_in: Self.registryTokenLifetime))
    }
}
