import Glibc
import OCI

/// Publishes a compose project as a compose-app v1 artifact: pack the bundle, check (or pin)
/// every image, push the bundle, the empty config and the app manifest.
public enum AppPublisher {
    public struct Result: Sendable, Encodable {
        /// `registry/repository@sha256:<manifest digest>`: what a Target lists.
        public var uri: String
        public var manifestDigest: String
        public var bundleDigest: String
        public var bundleSize: Int64
        public var tag: String?
        /// Services whose image `--pin` resolved (now written back into the compose file).
        public var pinnedServices: [String]
    }

    /// With `pin`, images given by tag are first resolved to digests through the registry and
    /// the compose file is rewritten; otherwise an image not pinned by digest fails the publish
    /// before anything is pushed.
    public static func publish(directory: String, to repository: Repository, tag: String?, pin: Bool,
                               registry: RegistryClient) async throws -> Result {
        var compose = try ComposeFile(directory: directory)
        var pinned: [String] = []
        if pin {
            pinned = try await compose.pin(using: registry).map(\.name)
            if !pinned.isEmpty { try compose.write() }
        }
        _ = try compose.pinnedImages()

        let scratch = try AppFiles.makeTemporaryDirectory(in: temporaryParent(), prefix: "otter-publish-")
        defer { try? AppFiles.removeTree(scratch) }
        let bundlePath = "\(scratch)/bundle.tgz"
        let bundle = try AppBundle.pack(directory: directory, to: bundlePath)
        let manifest = AppManifest(bundle: bundle)
        try await registry.pushBlob(.file(path: bundlePath), as: bundle, to: repository)
        try await registry.pushBlob(.bytes(AppManifest.emptyConfigBytes), as: AppManifest.emptyConfig, to: repository)
        try await registry.pushManifest(manifest.bytes, mediaType: MediaType.ociManifest, to: repository, tag: tag)
        let uri = Reference(repository: repository, digest: manifest.digest).description
        return Result(uri: uri, manifestDigest: manifest.digest.description, bundleDigest: bundle.digest.description,
                      bundleSize: bundle.size, tag: tag, pinnedServices: pinned)
    }

    static func temporaryParent() -> String {
        if let value = getenv("TMPDIR") { return String(cString: value) }
        return "/tmp"
    }
}
