/// Media types of the documents the client reads (image-spec `media-types.md`, Docker image
/// manifest v2 schema 2).
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    public static let imageManifests: Set<String> = [ociManifest, dockerManifest]
    public static let indexes: Set<String> = [ociIndex, dockerManifestList]

    /// Every manifest kind the client understands, for `Accept` (schema 1 is not among them:
    /// it has no content digest a device could pin).
    public static let acceptedManifests = [ociManifest, ociIndex, dockerManifest, dockerManifestList]
}

/// Upper bounds for documents held in memory; blobs stream to disk and have none.
public struct Limits: Sendable, Equatable {
    /// Manifests and indexes (distribution itself refuses manifests above 4 MiB).
    public var manifestBytes: Int64
    /// Other JSON: token responses, tags lists, error bodies.
    public var jsonBytes: Int64

    public init(manifestBytes: Int64 = 4 << 20, jsonBytes: Int64 = 4 << 20) {
        self.manifestBytes = manifestBytes
        self.jsonBytes = jsonBytes
    }
}
