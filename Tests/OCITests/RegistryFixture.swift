import Foundation
import HTTP
import OCI
import OtterCrypto
import Testing
import TestSupport

/// The shared registry process (TestSupport) with this target's OCI-typed helpers: pushing
/// with the plain distribution API, blob paths by digest, token auth.
final class RegistryFixture: DistributionRegistry, @unchecked Sendable {
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

    /// Where the registry keeps a blob's bytes.
    func dataPath(of digest: OCIDigest) -> URL { dataPath(ofSHA256: digest.hex) }

    // MARK: pushing, with the plain distribution API

    private var pushHeaders: HTTPHeaders {
        var headers = HTTPHeaders()
        if let basicAuthorization { headers["Authorization"] = basicAuthorization }
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

}

func temporaryStore() throws -> BlobStore {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("otter-oci-store-\(UUID())").path
    return try BlobStore(root: path)
}

func listing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}
