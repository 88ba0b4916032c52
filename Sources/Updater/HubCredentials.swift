import FoundationEssentials
import Glibc
import HTTP

/// The registry credentials of a registered device: `GET /hub-creds/` from its gateway
/// (`{"ServerURL","Username","Secret"}`), kept as a docker config.json (0600) that the apps
/// backend reads when it pulls (the OCI client sends them as basic auth, or to the registry's
/// token realm). A gateway without credentials (404) removes the file.
public enum HubCredentials {
    /// `/var/lib/otter/hub-creds.json` under the sysroot.
    public static func path(_ config: OtterConfiguration) -> String {
        OtterConfiguration.resolve("/var/lib/otter/hub-creds.json", under: config.root)
    }

    /// Fetches and stores the credentials; true when the device has some now.
    @discardableResult
    public static func refresh(_ config: OtterConfiguration) async throws -> Bool {
        guard let gateway = config.servers.gatewayURL, config.servers.tlsClientCertificate != nil else { return false }
        let client = HTTPClient(configuration: .init(tls: config.servers.tls, timeouts: .init(connect: .seconds(15), overall: .seconds(30)),
                                                     retry: .init(maxAttempts: 2)))
        let response = try await client.get(gateway + "/hub-creds/")
        let file = path(config)
        if response.status == 404 {
            unlink(file)
            return false
        }
        guard response.status == 200 else {
            throw UpdaterError("GET \(gateway)/hub-creds/ answered HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self)); apps are pulled with the credentials fetched before, if any")
        }
        struct Document: Decodable { var ServerURL: String?; var Username: String; var Secret: String }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(response.body))
        } catch {
            throw UpdaterError("the gateway's /hub-creds/ answer is not {\"ServerURL\",\"Username\",\"Secret\"}: \(error)")
        }
        guard let server = document.ServerURL.flatMap(registryHost) ?? config.servers.registry else {
            throw UpdaterError("the gateway's registry credentials name no ServerURL and [servers] registry is not set; cannot tell which registry they are for")
        }
        struct Entry: Encodable { var username: String; var password: String }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(["auths": [server: Entry(username: document.Username, password: document.Secret)]]),
                          as: UTF8.self)
        try FileManager.default.createDirectory(atPath: String(file[..<file.lastIndex(of: "/")!]), withIntermediateDirectories: true)
        try writeFileAtomically(text, to: file, mode: 0o600)
        return true
    }

    /// `https://host:port/…` or `host:port` → `host:port`.
    static func registryHost(_ url: String) -> String? {
        var rest = Substring(url)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        let host = rest.split(separator: "/").first.map(String.init)
        return host?.isEmpty == false ? host : nil
    }
}
