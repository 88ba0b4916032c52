import Foundation
import HTTP
import OCI
import OtterCrypto
import Testing
import TestSupport

/// A real distribution registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1 with
/// filesystem storage in a temp directory, started by the test and stopped by its PID.
final class RegistryFixture: @unchecked Sendable {
    let directory: URL
    let port: Int
    private var process: Process?
    private let htpasswd: (user: String, password: String)?

    var registry: String { "127.0.0.1:\(port)" }
    var storage: URL { directory.appendingPathComponent("storage") }
    var pid: Int32 { process?.processIdentifier ?? 0 }

    init(htpasswd: (user: String, password: String)? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-oci-registry-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        self.htpasswd = htpasswd
        if let htpasswd {
            let file = directory.appendingPathComponent("htpasswd")
            let hash = try Self.bcrypt(htpasswd.password)
            try "\(htpasswd.user):\(hash)\n".write(to: file, atomically: true, encoding: .utf8)
            try writeConfig(auth: "auth:\n  htpasswd:\n    realm: otter-test\n    path: \(file.path)\n")
        } else {
            try writeConfig(auth: "")
        }
    }

    /// Rewrites config.yml; takes effect at the next `start()`.
    func writeConfig(auth: String) throws {
        let config = """
        version: 0.1
        log:
          level: warn
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(storage.path)
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)
        \(auth)
        """
        try config.write(to: directory.appendingPathComponent("config.yml"), atomically: true, encoding: .utf8)
    }

    /// distribution's token auth (`auth.token`), trusting the token server's certificate.
    func writeTokenAuthConfig(_ server: TokenServer) throws {
        try writeConfig(auth: """
        auth:
          token:
            realm: \(server.realm)
            service: \(TokenServer.service)
            issuer: \(TokenServer.issuer)
            rootcertbundle: \(server.certificatePath)

        """)
    }

    static func started(htpasswd: (user: String, password: String)? = nil) async throws -> RegistryFixture {
        let fixture = try RegistryFixture(htpasswd: htpasswd)
        try await fixture.start()
        return fixture
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", directory.appendingPathComponent("config.yml").path]
        let log = directory.appendingPathComponent("registry.log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Ready when /v2/ answers at all (200, or 401 with auth on).
        let probe = HTTPClient(configuration: .init(retry: .none, proxy: .none))
        for _ in 0..<200 {
            if let response = try? await probe.head("http://\(registry)/v2/"), response.status > 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FixtureError("registry did not start on \(registry); log: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    /// SIGKILL, by PID.
    func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// Where the registry keeps a blob's bytes (distribution's filesystem driver layout).
    func dataPath(of digest: OCIDigest) -> URL {
        storage.appendingPathComponent("docker/registry/v2/blobs/sha256/\(digest.hex.prefix(2))/\(digest.hex)/data")
    }

    // MARK: pushing, with the plain distribution API

    private var pushHeaders: HTTPHeaders {
        var headers = HTTPHeaders()
        if let htpasswd {
            headers["Authorization"] = "Basic " + Base64.encode(Array("\(htpasswd.user):\(htpasswd.password)".utf8))
        }
        return headers
    }

    private let pusher = HTTPClient(configuration: .init(retry: .none, proxy: .none))

    /// POST /v2/<repo>/blobs/uploads/, then PUT <location>&digest=… with the bytes.
    @discardableResult
    func pushBlob(_ bytes: [UInt8], to repository: String, mediaType: String = "application/octet-stream") async throws -> Descriptor {
        let descriptor = Descriptor.of(bytes, mediaType: mediaType)
        let start = try await pusher.send(HTTPRequest(method: .post, url: "http://\(registry)/v2/\(repository)/blobs/uploads/",
                                                      headers: pushHeaders, body: .bytes([])))
        guard start.status == 202, var location = start.headers["Location"] else {
            throw FixtureError("upload start answered \(start.status)")
        }
        if location.hasPrefix("/") { location = "http://\(registry)" + location }
        location += (location.contains("?") ? "&" : "?") + "digest=\(descriptor.digest)"
        var headers = pushHeaders
        headers["Content-Type"] = "application/octet-stream"
        let done = try await pusher.send(HTTPRequest(method: .put, url: location, headers: headers, body: .bytes(bytes)))
        guard done.status == 201 else { throw FixtureError("blob upload answered \(done.status): \(String(decoding: done.body, as: UTF8.self))") }
        return descriptor
    }

    /// PUT /v2/<repo>/manifests/<tag>.
    @discardableResult
    func pushManifest(_ manifest: ImageManifest, to repository: String, tag: String) async throws -> (bytes: [UInt8], digest: OCIDigest) {
        try await pushManifest(bytes: Array(try JSONEncoder().encode(manifest)), mediaType: manifest.mediaType ?? MediaType.ociManifest,
                               to: repository, tag: tag)
    }

    @discardableResult
    func pushManifest(bytes: [UInt8], mediaType: String, to repository: String, tag: String) async throws -> (bytes: [UInt8], digest: OCIDigest) {
        var headers = pushHeaders
        headers["Content-Type"] = mediaType
        let done = try await pusher.send(HTTPRequest(method: .put, url: "http://\(registry)/v2/\(repository)/manifests/\(tag)",
                                                     headers: headers, body: .bytes(bytes)))
        guard done.status == 201 else { throw FixtureError("manifest upload answered \(done.status): \(String(decoding: done.body, as: UTF8.self))") }
        return (bytes, OCIDigest.sha256(of: bytes))
    }

    /// An image of `layers` random blobs of the given sizes, pushed and tagged.
    typealias PushedImage = (manifest: ImageManifest, digest: OCIDigest, layers: [[UInt8]])

    func pushImage(repository: String, tag: String, layerSizes: [Int]) async throws -> PushedImage {
        let configBytes = Array("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}".utf8)
        let config = try await pushBlob(configBytes, to: repository, mediaType: MediaType.ociConfig)
        var layers: [[UInt8]] = []
        var descriptors: [Descriptor] = []
        for size in layerSizes {
            let bytes = Self.randomBytes(size)
            layers.append(bytes)
            descriptors.append(try await pushBlob(bytes, to: repository, mediaType: MediaType.ociLayerGzip))
        }
        let manifest = ImageManifest(config: config, layers: descriptors)
        let pushed = try await pushManifest(manifest, to: repository, tag: tag)
        return (manifest, pushed.digest, layers)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= raw.count {
                raw.storeBytes(of: generator.next() as UInt64, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < raw.count { raw[i] = UInt8.random(in: 0...255); i += 1 }
        }
        return bytes
    }

    // MARK: helpers

    static func freePort() throws -> Int { freeLoopbackPort() }

    /// A bcrypt hash for htpasswd, from python3's crypt module (glibc's libxcrypt has bcrypt).
    static func bcrypt(_ password: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-W", "ignore", "-c",
                             "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))", password]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let hash = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, hash.hasPrefix("$2") else { throw FixtureError("python3 crypt gave no bcrypt hash") }
        return hash
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func temporaryStore() throws -> BlobStore {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("otter-oci-store-\(UUID())").path
    return try BlobStore(root: path)
}

func listing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}
