import HTTP
import OCI

/// Where firmware lives: a registry (`http://host:port` or `https://host`), and the repository
/// prefix that, followed by a device id, names a device's repository (`firmware/` + `esp32-7`).
public struct FirmwareRegistry: Sendable {
    /// `host[:port]`, as in references.
    public var host: String
    public var plainHTTP: Bool
    public var repositoryPrefix: String
    public var credentials: RegistryCredentials?

    /// `url` is `http://…`, `https://…` or a bare host (https).
    public init(url: String, repositoryPrefix: String = "", credentials: RegistryCredentials? = nil) throws(FirmwareError) {
        var rest = Substring(url)
        plainHTTP = rest.hasPrefix("http://")
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/") else {
            throw .invalid("registry URL \(url) must be http://host[:port] or https://host[:port], with no path")
        }
        host = String(rest)
        self.repositoryPrefix = repositoryPrefix
        self.credentials = credentials
    }

    public var baseURL: String { (plainHTTP ? "http://" : "https://") + host }

    public func repository(for device: String) -> Repository {
        Repository(registry: host, name: repositoryPrefix + device)
    }

    /// A registry client for this registry. One attempt per request by default: a poller that
    /// retries on its interval, and devices waiting on it, are better served by a fast failure.
    public func client(retry: HTTPClient.RetryPolicy = .none, connectTimeout: Duration = .seconds(5)) -> RegistryClient {
        let http = HTTPClient(configuration: HTTPClient.Configuration(
            timeouts: HTTPClient.Timeouts(connect: connectTimeout, lowSpeedTime: .seconds(30)), retry: retry, proxy: .none))
        return RegistryClient(http: http, configuration: RegistryClient.Configuration(
            credentials: credentials.map { [host: $0] } ?? [:], plainHTTPRegistries: plainHTTP ? [host] : []))
    }

    /// Device ids become repository path components: lower-case letters and digits, separated
    /// by one '.', '_' or '-' (distribution's rule), at most 128 characters.
    public static func isValidDeviceID(_ id: some StringProtocol) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 128 else { return false }
        var previousWasSeparator = true
        for byte in id.utf8 {
            let isAlphanumeric = (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
            if isAlphanumeric {
                previousWasSeparator = false
            } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") {
                if previousWasSeparator { return false }
                previousWasSeparator = true
            } else {
                return false
            }
        }
        return !previousWasSeparator
    }
}
