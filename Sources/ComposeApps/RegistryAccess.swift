import HTTP
import OCI

/// How the command-line tools reach registries: which are plain HTTP (a loopback test
/// registry, a local mirror), and the credentials (a docker `config.json`, or one user and
/// password for the registries named).
public struct RegistryAccess: Sendable {
    public var plainHTTPRegistries: [String]
    public var dockerConfigPath: String?
    public var username: String?
    public var password: String?
    /// Bandwidth limit for blob downloads (bytes per second per transfer); nil: none.
    public var maxBytesPerSecond: Int64?
    /// Token realms with a client of their own (see `RegistryClient.Configuration.tokenServices`).
    public var tokenServices: [RegistryClient.TokenService] = []
    /// Signs registry tokens locally (see `RegistryClient.Configuration.tokenSigner`).
    public var tokenSigner: (@Sendable (_ service: String?, _ scope: String) throws -> String)?

    public init(plainHTTPRegistries: [String] = [], dockerConfigPath: String? = nil, username: String? = nil, password: String? = nil) {
        self.plainHTTPRegistries = plainHTTPRegistries
        self.dockerConfigPath = dockerConfigPath
        self.username = username
        self.password = password
    }

    /// A client for `registries` (`host[:port]`); `--username/--password` apply to those.
    public func client(for registries: [String]) throws -> RegistryClient {
        var configuration = RegistryClient.Configuration(plainHTTPRegistries: Set(plainHTTPRegistries), tokenServices: tokenServices,
                                                         tokenSigner: tokenSigner)
        if let dockerConfigPath {
            configuration.credentials = try DockerConfig.credentials(fromFile: dockerConfigPath)
        }
        if let username {
            for registry in registries {
                configuration.credentials[registry] = RegistryCredentials(username: username, password: password ?? "")
            }
        }
        var http = HTTPClient.Configuration()
        http.maxReceiveBytesPerSecond = maxBytesPerSecond
        return RegistryClient(http: HTTPClient(configuration: http), configuration: configuration)
    }
}
