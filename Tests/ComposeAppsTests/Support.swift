import Foundation
import HTTP
import OCI
import Testing
import TestSupport
@testable import ComposeApps

/// What the compose-app tests share: a real registry, images of random layers pushed with the
/// product's push API, compose projects in temp directories, and the two executables.
final class AppsFixture: @unchecked Sendable {
    let registry: DistributionRegistry
    let work: URL
    let credentials: RegistryCredentials?

    init(htpasswd: (user: String, password: String)? = nil) async throws {
        registry = try DistributionRegistry(htpasswd: htpasswd)
        try await registry.start()
        credentials = htpasswd.map { RegistryCredentials(username: $0.user, password: $0.password) }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("otter-apps-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    deinit {
        registry.kill()
        try? FileManager.default.removeItem(at: work)
    }

    var host: String { registry.registry }

    func client(retry: HTTPClient.RetryPolicy = .init(maxAttempts: 2, initialDelay: .milliseconds(100)),
                credentials override: RegistryCredentials? = nil) -> RegistryClient {
        var configuration = RegistryClient.Configuration(plainHTTPRegistries: [host])
        if let credentials = override ?? credentials { configuration.credentials[host] = credentials }
        return RegistryClient(http: HTTPClient(configuration: .init(retry: retry, proxy: .none)), configuration: configuration)
    }

    struct Image {
        var repository: Repository
        var manifest: ImageManifest
        var digest: OCIDigest
        /// `host/repo@sha256:…`, as a compose file pins it.
        var pinned: String
        var layers: [[UInt8]]
    }

    /// An image of random layers, pushed and tagged `tag`.
    func pushImage(_ name: String, tag: String = "v1", layerSizes: [Int], architecture: String = "amd64") async throws -> Image {
        let repository = Repository(registry: host, name: name)
        let client = client()
        let configBytes = Array("{\"architecture\":\"\(architecture)\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"n\":\"\(UUID())\"}".utf8)
        let config = Descriptor.of(configBytes, mediaType: MediaType.ociConfig)
        try await client.pushBlob(.bytes(configBytes), as: config, to: repository)
        var layers: [[UInt8]] = []
        var descriptors: [Descriptor] = []
        for size in layerSizes {
            let bytes = DistributionRegistry.randomBytes(size)
            let descriptor = Descriptor.of(bytes, mediaType: MediaType.ociLayerGzip)
            try await client.pushBlob(.bytes(bytes), as: descriptor, to: repository)
            layers.append(bytes)
            descriptors.append(descriptor)
        }
        let manifest = ImageManifest(config: config, layers: descriptors)
        let bytes = Array(try JSONEncoder().encode(manifest))
        let pushed = try await client.pushManifest(bytes, mediaType: MediaType.ociManifest, to: repository, tag: tag)
        return Image(repository: repository, manifest: manifest, digest: pushed.digest,
                     pinned: Reference(repository: repository, digest: pushed.digest).description, layers: layers)
    }

    /// An image index over `images` (amd64 and arm64 entries), tagged `tag`.
    func pushIndex(_ name: String, tag: String, entries: [(Image, Platform)]) async throws -> (digest: OCIDigest, pinned: String) {
        let repository = Repository(registry: host, name: name)
        let index = ImageIndex(manifests: entries.map { image, platform in
            Descriptor(mediaType: MediaType.ociManifest, digest: image.digest,
                       size: Int64(try! JSONEncoder().encode(image.manifest).count), platform: platform)
        })
        let bytes = Array(try JSONEncoder().encode(index))
        let pushed = try await client().pushManifest(bytes, mediaType: MediaType.ociIndex, to: repository, tag: tag)
        return (pushed.digest, Reference(repository: repository, digest: pushed.digest).description)
    }

    /// A compose project directory with one service per image.
    func project(_ name: String, services: [(String, String)], extraFiles: [String: String] = [:]) throws -> String {
        let directory = work.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var yaml = "services:\n"
        for (service, image) in services { yaml += "  \(service):\n    image: \(image)\n    restart: always\n" }
        try yaml.write(to: directory.appendingPathComponent("docker-compose.yml"), atomically: true, encoding: .utf8)
        for (path, content) in extraFiles {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
        }
        return directory.path
    }

    /// Publishes with the library (the CLI is tested in PublishTests); returns the app URI.
    func publish(_ directory: String, repository name: String) async throws -> String {
        try await AppPublisher.publish(directory: directory, to: Repository(registry: host, name: name), tag: nil, pin: false,
                                       registry: client()).uri
    }

    func temporaryPath(_ name: String) -> String { work.appendingPathComponent("\(name)-\(UUID())").path }
}

func otter(_ args: [String]) throws -> (out: String, err: String, status: Int32) {
    try runProcess(builtProduct("otter"), args)
}

func otterFactory(_ args: [String]) throws -> (out: String, err: String, status: Int32) {
    try runProcess(builtProduct("otter-factory"), args)
}

func listing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}
