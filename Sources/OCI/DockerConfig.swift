import FoundationEssentials
import OtterCrypto

/// Registry credentials from a docker-style `config.json` (`{"auths": {"<host>": {"auth":
/// base64("user:password")}}}`, or `username`/`password` fields), as docker, podman, skopeo and
/// composeapp read it (REFERENCE.md §2, `auth.go`). Credential helpers are not run.
public enum DockerConfig {
    public static func credentials(fromFile path: String) throws -> [String: RegistryCredentials] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(filePath: path))
        } catch {
            throw OCIError.registry(what: "registry credentials \(path)", reason: "cannot read the file (\(error))")
        }
        return try credentials(fromJSON: Array(data), what: path)
    }

    public static func credentials(fromJSON bytes: [UInt8], what: String) throws -> [String: RegistryCredentials] {
        struct File: Decodable {
            struct Entry: Decodable { var auth: String?; var username: String?; var password: String? }
            var auths: [String: Entry]?
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(bytes))
        } catch {
            throw OCIError.registry(what: "registry credentials \(what)", reason: "not a docker config.json (\(error))")
        }
        var result: [String: RegistryCredentials] = [:]
        for (key, entry) in file.auths ?? [:] {
            // Keys may be URLs (`https://host/v1/`): the host[:port] is what references use.
            var host = Substring(key)
            if let scheme = host.firstRange(of: "://") { host = host[scheme.upperBound...] }
            if let slash = host.firstIndex(of: "/") { host = host[..<slash] }
            if let auth = entry.auth, let decoded = Base64.decode(auth), let colon = decoded.firstIndex(of: UInt8(ascii: ":")) {
                result[String(host)] = RegistryCredentials(username: String(decoding: decoded[..<colon], as: UTF8.self),
                                                           password: String(decoding: decoded[(colon + 1)...], as: UTF8.self))
            } else if let username = entry.username, let password = entry.password {
                result[String(host)] = RegistryCredentials(username: username, password: password)
            }
        }
        return result
    }
}
