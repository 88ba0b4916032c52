import ConfigSyntax
import FoundationEssentials
import Glibc
import HTTP

/// The device config the gateway serves (`GET /config`, fioconfig's JSON
/// `{"<file>": {"Value": "…", "Unencrypted": true, …}}`) written into its own conf.d layer
/// (`/var/lib/otter/conf.d`, between the image's and /etc's). Only unencrypted entries whose name
/// ends in `.toml` become fragments; the layer holds nothing else, so an entry the gateway no
/// longer sends is removed. A config that would not load is refused as a whole and the layer
/// stays as it was.
///
/// The gateway may set only `DeviceConfigFiles.gatewaySettable` keys: a compromised gateway or
/// factory database must not be able to make every device run a command
/// (`update.reboot_command`, health-check directories, the compose command) or trust another server.
public struct DeviceConfigSync: Sendable {
    public let gatewayURL: String
    let client: HTTPClient
    /// The layer directory (under the sysroot).
    public let directory: String
    /// The other conf.d directories, lowest precedence first, to check that the new layer loads.
    let root: String

    public init(gatewayURL: String, client: HTTPClient, configuration: OtterConfiguration) {
        self.gatewayURL = gatewayURL
        self.client = client
        root = configuration.root
        directory = OtterConfiguration.resolve(OtterConfiguration.gatewayDirectory, under: configuration.root)
    }

    public init?(configuration config: OtterConfiguration) {
        guard let url = config.servers.gatewayURL, config.servers.tlsClientCertificate != nil else { return nil }
        self.init(gatewayURL: url, client: HTTPClient(configuration: .init(
            tls: config.servers.tls, timeouts: .init(connect: .seconds(15), overall: .seconds(60)), retry: .init(maxAttempts: 2))),
                  configuration: config)
    }

    var stampFile: String { directory + "/.last-modified" }

    /// Fetches the config; true when the layer changed (the caller reloads its configuration).
    public func sync() async throws -> Bool {
        var headers: HTTPHeaders = [:]
        let stamp = FileManager.default.contents(atPath: stampFile).map { String(decoding: $0, as: UTF8.self) }
        if let stamp, !stamp.isEmpty { headers.add("If-Modified-Since", stamp) }
        let response = try await client.get(gatewayURL + "/config", headers: headers)
        switch response.status {
        case 304:
            return false
        case 204:
            return try apply([:], lastModified: nil)
        case 200:
            return try apply(try Self.parse(response.body), lastModified: response.headers["Last-Modified"])
        default:
            throw UpdaterError("GET \(gatewayURL)/config answered HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self)); the device keeps its current config and asks again at the next check")
        }
    }

    /// The `.toml` fragments of a fioconfig document: name → text.
    static func parse(_ body: [UInt8]) throws -> [String: String] {
        struct Entry: Decodable {
            var Value: String
            var Unencrypted: Bool?
        }
        let entries: [String: Entry]
        do {
            entries = try JSONDecoder().decode([String: Entry].self, from: Data(body))
        } catch {
            throw UpdaterError("the gateway's device config is not a fioconfig JSON object {\"<file>\": {\"Value\": …, \"Unencrypted\": true}}: \(error)")
        }
        var fragments: [String: String] = [:]
        for (name, entry) in entries where entry.Unencrypted == true && name.hasSuffix(".toml") {
            guard DeviceConfigFiles.isPlainName(name) else {
                throw UpdaterError("the gateway's device config names a file \"\(name)\"; only plain names such as otter-update-windows.toml are allowed")
            }
            fragments[name] = entry.Value
        }
        return fragments
    }

    /// Makes the layer hold exactly `fragments`; true when anything changed.
    func apply(_ fragments: [String: String], lastModified: String?) throws -> Bool {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let existing = Set(ConfigurationFragmentsList.tomlFiles(in: directory))
        var changed = false
        let unchanged = fragments.allSatisfy { name, text in
            FileManager.default.contents(atPath: directory + "/" + name).map { String(decoding: $0, as: UTF8.self) } == text
        } && existing == Set(fragments.keys)
        if !unchanged {
            try check(fragments)
            for (name, text) in fragments.sorted(by: { $0.key < $1.key }) {
                try writeFileAtomically(text, to: directory + "/" + name, mode: 0o644)
            }
            for name in existing.subtracting(fragments.keys) { unlink(directory + "/" + name) }
            changed = true
        }
        if let lastModified { try writeFileAtomically(lastModified, to: stampFile, mode: 0o644) } else { unlink(stampFile) }
        return changed
    }

    /// Loads the configuration as it would be with the new layer; throws its error if it does not.
    func check(_ fragments: [String: String]) throws {
        for (name, text) in fragments.sorted(by: { $0.key < $1.key }) {
            // A syntax error is reported by the load below, with its line and column.
            guard let assignments = try? TOMLReader.parse(text) else { continue }
            for assignment in assignments {
                let key = assignment.path.prefix(2).joined(separator: ".")
                guard DeviceConfigFiles.gatewaySettable.contains(key) else {
                    throw UpdaterError("the gateway's device config was not applied: \(name) sets \(key), which only the image or /etc/otter/conf.d may set; a gateway may set \(DeviceConfigFiles.gatewaySettable.sorted().joined(separator: ", ")); the previous config stays in effect")
                }
            }
        }
        let staging = directory + "/.staging-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        for (name, text) in fragments { try writeFileAtomically(text, to: staging + "/" + name, mode: 0o644) }
        let directories = OtterConfiguration.directories(root: root).map { $0 == directory ? staging : $0 }
        do {
            _ = try OtterConfiguration.load(root: root, directories: directories)
        } catch {
            throw UpdaterError("the gateway's device config was not applied: \(error); the previous one stays in effect")
        }
    }
}

enum ConfigurationFragmentsList {
    /// The `*.toml` names of a directory.
    static func tomlFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }
    }
}

/// Writes `text` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs
/// the directory: a crash leaves the old file or the new one, never half of one.
public func writeFileAtomically(_ text: String, to path: String, mode: mode_t) throws {
    let temporary = path + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw UpdaterError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        guard written > 0 else {
            close(fd)
            unlink(temporary)
            throw UpdaterError("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        offset += written
    }
    fchmod(fd, mode)
    guard fsync(fd) == 0, close(fd) == 0, rename(temporary, path) == 0 else {
        unlink(temporary)
        throw UpdaterError("cannot replace \(path): \(String(cString: strerror(errno)))")
    }
    let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dirFD >= 0 { fsync(dirFD); close(dirFD) }
}
