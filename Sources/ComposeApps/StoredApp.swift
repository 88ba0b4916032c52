import OCI

/// The contract between the app store (fetch, unpack, GC) and the engine runtime (load, up,
/// down, status): everything an installed app needs, already on local disk and verified, so an
/// install never touches the network.

/// One image layer blob in the store.
public struct StoredLayer: Sendable, Equatable {
    public var digest: OCIDigest
    public var size: Int64
    /// As in the image manifest (gzip, zstd or uncompressed tar, OCI or Docker media type).
    public var mediaType: String
    /// `blobs/sha256/<hex>` in the store.
    public var path: String

    public init(digest: OCIDigest, size: Int64, mediaType: String, path: String) {
        self.digest = digest
        self.size = size
        self.mediaType = mediaType
        self.path = path
    }
}

/// One image referenced by a compose service, resolved to the device platform's manifest.
public struct StoredImage: Sendable, Equatable {
    /// The reference exactly as the compose file writes it: `registry/repo@sha256:<digest>`
    /// (the digest of the index or manifest that was pinned at publish time).
    public var reference: String
    /// The platform image manifest that was chosen (equal to the pinned digest for a
    /// single-platform image).
    public var manifestDigest: OCIDigest
    public var configDigest: OCIDigest
    public var configPath: String
    /// In manifest order (base layer first).
    public var layers: [StoredLayer]

    public init(reference: String, manifestDigest: OCIDigest, configDigest: OCIDigest, configPath: String, layers: [StoredLayer]) {
        self.reference = reference
        self.manifestDigest = manifestDigest
        self.configDigest = configDigest
        self.configPath = configPath
        self.layers = layers
    }
}

/// A compose app whose bundle is unpacked and whose images are all in the blob store.
public struct StoredApp: Sendable, Equatable {
    /// The app's name in the Target (`docker_compose_apps` key), also the compose project name.
    public var name: String
    /// `registry/repo@sha256:<app manifest digest>`.
    public var uri: String
    public var manifestDigest: OCIDigest
    /// The unpacked bundle: holds `docker-compose.yml` (or `compose.yaml`) exactly as published.
    public var bundleDirectory: String
    public var images: [StoredImage]

    public init(name: String, uri: String, manifestDigest: OCIDigest, bundleDirectory: String, images: [StoredImage]) {
        self.name = name
        self.uri = uri
        self.manifestDigest = manifestDigest
        self.bundleDirectory = bundleDirectory
        self.images = images
    }
}
