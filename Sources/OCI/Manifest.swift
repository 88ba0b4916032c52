import FoundationEssentials

/// An image manifest: OCI image manifest v1 or Docker schema 2, which share their shape
/// (`config`, `layers`). Compose-app manifests are OCI image manifests with `artifactType`
/// and annotations (REFERENCE.md §2).
public struct ImageManifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: String = MediaType.ociManifest, artifactType: String? = nil, config: Descriptor,
                layers: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    /// Config first, then the layers: every blob the manifest pins.
    public var blobs: [Descriptor] { [config] + layers }
}

/// An image index (OCI) or manifest list (Docker): one manifest per platform.
public struct ImageIndex: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String = MediaType.ociIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }

    /// The first manifest for a platform `platform` accepts.
    public func manifest(for platform: Platform) -> Descriptor? {
        manifests.first { $0.platform.map(platform.accepts) ?? false }
    }
}

/// A manifest as fetched: the exact bytes (whose digest pins it), its media type and what they say.
public struct Manifest: Sendable, Hashable {
    public enum Content: Sendable, Hashable {
        case image(ImageManifest)
        case index(ImageIndex)
    }

    public var bytes: [UInt8]
    public var digest: OCIDigest
    public var mediaType: String
    public var content: Content

    public var descriptor: Descriptor {
        Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    public var image: ImageManifest? {
        if case .image(let manifest) = content { return manifest }
        return nil
    }

    public var index: ImageIndex? {
        if case .index(let index) = content { return index }
        return nil
    }

    /// Parses manifest bytes. The kind comes from the document's own `mediaType`, else from the
    /// `Content-Type` the registry sent, else from its shape (`manifests` vs `layers`).
    /// `what` names the manifest in errors (the reference).
    public init(bytes: [UInt8], contentType: String? = nil, what: String,
                limits: Limits = Limits()) throws(OCIError) {
        guard Int64(bytes.count) <= limits.manifestBytes else {
            throw .tooLarge(what: "manifest \(what)", limit: limits.manifestBytes)
        }
        struct Probe: Decodable {
            var schemaVersion: Int?
            var mediaType: String?
            var hasManifests = false
            var hasLayers = false
            enum CodingKeys: CodingKey { case schemaVersion, mediaType, manifests, layers }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion)
                mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType)
                hasManifests = c.contains(.manifests)
                hasLayers = c.contains(.layers)
            }
        }
        let data = Data(bytes)
        let probe: Probe
        do {
            probe = try JSONDecoder().decode(Probe.self, from: data)
        } catch {
            throw .invalidManifest(what, reason: "not a JSON object (\(error))")
        }
        guard probe.schemaVersion == 2 else {
            throw .invalidManifest(what, reason: "schemaVersion \(probe.schemaVersion.map(String.init) ?? "missing"), only 2 is supported (Docker schema 1 is not)")
        }
        let headerType = contentType.flatMap { $0.split(separator: ";").first.map { String($0.filter { $0 != " " }) } }
        func known(_ type: String?) -> Bool {
            type.map { MediaType.imageManifests.contains($0) || MediaType.indexes.contains($0) } ?? false
        }
        var mediaType = probe.mediaType ?? (known(headerType) ? headerType : nil)
        if mediaType == nil {
            // OCI lets mediaType be absent; the shape decides.
            if probe.hasLayers { mediaType = MediaType.ociManifest } else if probe.hasManifests { mediaType = MediaType.ociIndex }
        }
        guard let mediaType else { throw .invalidManifest(what, reason: "no mediaType, and neither layers nor manifests") }
        do {
            if MediaType.imageManifests.contains(mediaType) {
                content = .image(try JSONDecoder().decode(ImageManifest.self, from: data))
            } else if MediaType.indexes.contains(mediaType) {
                content = .index(try JSONDecoder().decode(ImageIndex.self, from: data))
            } else {
                throw OCIError.invalidManifest(what, reason: "unsupported media type \(mediaType)")
            }
        } catch let error as OCIError {
            throw error
        } catch {
            throw .invalidManifest(what, reason: "\(error)")
        }
        let sizes: [Int64]
        switch content {
        case .image(let manifest): sizes = manifest.blobs.map(\.size)
        case .index(let index): sizes = index.manifests.map(\.size)
        }
        guard sizes.allSatisfy({ $0 >= 0 }) else { throw .invalidManifest(what, reason: "a descriptor has a negative size") }
        self.bytes = bytes
        self.digest = .sha256(of: bytes)
        self.mediaType = mediaType
    }
}
