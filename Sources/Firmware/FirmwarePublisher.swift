import FoundationEssentials
import OCI
import OtterCrypto

/// Pushes firmware artifacts and their cosign signatures (`otter-factory firmware publish|sign`).
public struct FirmwarePublisher: Sendable {
    /// The artifact type of firmware manifests (OCI 1.1 artifact guidance: empty config).
    public static let artifactType = "application/vnd.otter.firmware.v1"
    public static let defaultLayerMediaType = "application/octet-stream"

    public var registry: FirmwareRegistry
    let client: RegistryClient

    public init(registry: FirmwareRegistry) {
        self.registry = registry
        self.client = registry.client(retry: .init(maxAttempts: 3))
    }

    /// Pushes `binary` as version `version` of `device`: one layer of `layerMediaType`, an empty
    /// config, tagged `version`. Returns the manifest's reference by digest (what `sign` takes).
    @discardableResult
    public func publish(_ binary: [UInt8], device: String, version: String, layerMediaType: String = defaultLayerMediaType,
                        fileName: String? = nil) async throws -> Reference {
        guard FirmwareRegistry.isValidDeviceID(device) else {
            throw FirmwareError.invalid("device id \"\(device)\" must be lower-case letters and digits separated by '.', '_' or '-'")
        }
        guard SemanticVersion(tag: version) != nil else {
            throw FirmwareError.invalid("version \"\(version)\" is not a semantic version (MAJOR.MINOR.PATCH[-pre][+build], optional leading v)")
        }
        let repository = registry.repository(for: device)
        let config = Array("{}".utf8)
        let configDescriptor = Descriptor.of(config, mediaType: MediaType.ociEmpty)
        var layer = Descriptor.of(binary, mediaType: layerMediaType)
        if let fileName { layer.annotations = ["org.opencontainers.image.title": fileName] }
        try await client.pushBlob(.bytes(config), as: configDescriptor, to: repository)
        try await client.pushBlob(.bytes(binary), as: layer, to: repository)
        let manifest = ImageManifest(artifactType: Self.artifactType, config: configDescriptor, layers: [layer],
                                     annotations: ["org.opencontainers.image.version": version])
        let descriptor = try await client.pushManifest(try Self.encode(manifest), mediaType: MediaType.ociManifest,
                                                       to: repository, tag: version)
        return Reference(repository: repository, digest: descriptor.digest)
    }

    /// Signs the manifest `reference` names (a tag is resolved to its digest first) and pushes
    /// the signature as `sha256-<hex>.sig`, replacing an earlier one. Returns the signed digest.
    @discardableResult
    public func sign(_ reference: Reference, key: ECDSAP256PrivateKey) async throws -> OCIDigest {
        guard let descriptor = try await client.manifestDescriptor(reference) else {
            throw FirmwareError.invalid("\(reference) is not in the registry; publish it first (`otter-factory firmware publish`)")
        }
        let repository = reference.repository
        let artifact = try CosignSignature.artifact(for: descriptor.digest, in: repository) { try key.signature(for: $0) }
        for (blob, bytes) in artifact.blobs { try await client.pushBlob(.bytes(bytes), as: blob, to: repository) }
        try await client.pushManifest(artifact.manifest, mediaType: MediaType.ociManifest, to: repository,
                                      tag: CosignSignature.tag(for: descriptor.digest))
        return descriptor.digest
    }

    static func encode(_ manifest: ImageManifest) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(manifest))
    }
}
