import FoundationEssentials
import OCI

/// The compose-app v1 OCI manifest (REFERENCE.md §2, composeapp `internal/app_manifest_builder.go`):
/// an OCI image manifest with `artifactType: application/vnd.fio+compose-app`, annotation
/// `compose-app: v1`, the OCI empty config, the bundle as `layers[0]` and optionally the
/// layers-meta blob (annotation `layers-meta: v1`).
public struct AppManifest: Sendable, Equatable {
    public static let artifactType = "application/vnd.fio+compose-app"
    public static let annotation = (key: "compose-app", value: "v1")
    public static let layersMetaAnnotation = (key: "layers-meta", value: "v1")
    public static let layersMetaMediaType = "application/json"
    /// The limit composeapp puts on app manifests.
    public static let maxBytes: Int64 = 50 * 1024

    /// The OCI empty descriptor's content (image-spec `manifest.md` §Guidance for an Empty Descriptor).
    public static let emptyConfigBytes: [UInt8] = Array("{}".utf8)
    public static var emptyConfig: Descriptor { Descriptor.of(emptyConfigBytes, mediaType: MediaType.ociEmpty) }

    public var bundle: Descriptor
    public var layersMeta: Descriptor?
    /// The exact bytes (whose digest is the app's digest) and what they say.
    public var manifest: Manifest

    public var digest: OCIDigest { manifest.digest }
    public var bytes: [UInt8] { manifest.bytes }

    /// Builds the manifest for a bundle (and a layers-meta blob), serialized with sorted keys so
    /// the same bundle always gives the same app digest.
    public init(bundle: Descriptor, layersMeta: Descriptor? = nil) {
        var layers = [Descriptor(mediaType: AppBundle.mediaType, digest: bundle.digest, size: bundle.size,
                                 annotations: bundle.annotations)]
        if let layersMeta {
            var annotations = layersMeta.annotations ?? [:]
            annotations[Self.layersMetaAnnotation.key] = Self.layersMetaAnnotation.value
            layers.append(Descriptor(mediaType: Self.layersMetaMediaType, digest: layersMeta.digest, size: layersMeta.size,
                                     annotations: annotations))
        }
        let image = ImageManifest(mediaType: MediaType.ociManifest, artifactType: Self.artifactType, config: Self.emptyConfig,
                                  layers: layers, annotations: [Self.annotation.key: Self.annotation.value])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types into JSON cannot fail.
        let bytes = Array(try! encoder.encode(image))
        self.bundle = layers[0]
        self.layersMeta = layers.count > 1 ? layers[1] : nil
        self.manifest = try! Manifest(bytes: bytes, contentType: MediaType.ociManifest, what: "compose app",
                                      limits: Limits(manifestBytes: Self.maxBytes))
    }

    /// Reads manifest bytes, refusing anything that is not a compose-app v1 manifest. `what`
    /// names it in errors (the app URI).
    public init(bytes: [UInt8], what: String) throws {
        guard Int64(bytes.count) <= Self.maxBytes else {
            throw AppStoreError.notAComposeApp(what, reason: "its manifest is \(bytes.count) bytes, more than the \(Self.maxBytes) of an app manifest")
        }
        try self.init(Manifest(bytes: bytes, what: what, limits: Limits(manifestBytes: Self.maxBytes)), what: what)
    }

    /// Checks a fetched manifest.
    public init(_ manifest: Manifest, what: String) throws {
        guard Int64(manifest.bytes.count) <= Self.maxBytes else {
            throw AppStoreError.notAComposeApp(what, reason: "its manifest is \(manifest.bytes.count) bytes, more than \(Self.maxBytes)")
        }
        guard let image = manifest.image else {
            throw AppStoreError.notAComposeApp(what, reason: "it is an image index (\(manifest.mediaType)), not an app manifest")
        }
        guard manifest.mediaType == MediaType.ociManifest else {
            throw AppStoreError.notAComposeApp(what, reason: "media type \(manifest.mediaType), expected \(MediaType.ociManifest)")
        }
        guard image.annotations?[Self.annotation.key] == Self.annotation.value else {
            let found = image.artifactType.map { "artifactType \($0)" } ?? "no artifactType"
            throw AppStoreError.notAComposeApp(what, reason: "it has no annotation \"compose-app\": \"v1\" (\(found); a container image, perhaps?)")
        }
        if let type = image.artifactType, type != Self.artifactType {
            throw AppStoreError.notAComposeApp(what, reason: "artifactType \(type), expected \(Self.artifactType)")
        }
        guard let bundle = image.layers.first else {
            throw AppStoreError.notAComposeApp(what, reason: "it has no layers (layers[0] must be the app bundle)")
        }
        guard bundle.size <= AppBundle.maxUnpackedBytes else {
            throw AppStoreError.notAComposeApp(what, reason: "its bundle is \(bundle.size) bytes, more than \(AppBundle.maxUnpackedBytes)")
        }
        self.bundle = bundle
        self.layersMeta = image.layers.dropFirst().first {
            $0.annotations?[Self.layersMetaAnnotation.key] == Self.layersMetaAnnotation.value
        }
        self.manifest = manifest
    }
}

/// An app's URI: `registry/repository@sha256:<manifest digest>` (the Target's
/// `docker_compose_apps.<name>.uri`).
public struct AppURI: Sendable, Hashable, CustomStringConvertible {
    public var reference: Reference
    public var digest: OCIDigest

    public init(parsing text: String) throws(AppStoreError) {
        let reference: Reference
        do {
            reference = try Reference(parsing: text)
        } catch {
            throw .invalidAppURI(text, reason: error.description)
        }
        guard let digest = reference.digest, digest.algorithm == .sha256 else {
            throw .invalidAppURI(text, reason: "it is not pinned by a sha256 digest")
        }
        self.reference = Reference(repository: reference.repository, digest: digest)
        self.digest = digest
    }

    public var repository: Repository { reference.repository }
    /// The repository's last path component: the app's default name.
    public var defaultName: String { String(reference.repository.name.split(separator: "/").last ?? "") }
    public var description: String { reference.description }
}
