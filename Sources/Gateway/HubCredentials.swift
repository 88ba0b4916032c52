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
