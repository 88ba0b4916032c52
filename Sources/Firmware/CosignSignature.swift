import FoundationEssentials
import OCI
import OtterCrypto

/// cosign's keyed signatures (REFERENCE.md §5, sigstore/cosign `specs/SIGNATURE_SPEC.md`): the
/// signature of manifest `sha256:<hex>` is the OCI artifact tagged `sha256-<hex>.sig` in the same
/// repository. Each of its layers is a "simple signing" JSON payload naming the signed manifest
/// digest, with the ECDSA P-256 signature (SHA-256, ASN.1 DER, base64) of the payload bytes in the
/// layer annotation `dev.cosignproject.cosign/signature`.
///
/// Keys are unencrypted PEM: cosign's own `ENCRYPTED SIGSTORE PRIVATE KEY` (scrypt + secretbox)
/// is not read; export one with `openssl ec` / `cosign import-key-pair` the other way round, or
/// make a key with `openssl ecparam -name prime256v1 -genkey`.
public enum CosignSignature {
    public static let payloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"
    public static let payloadType = "cosign container image signature"

    /// The tag that holds the signatures of `digest`: `sha256-<hex>.sig`.
    public static func tag(for digest: OCIDigest) -> String {
        "\(digest.algorithm.rawValue)-\(digest.hex).sig"
    }

    /// The payload cosign writes (`pkg/oci/static/signature.go`, lower-case
    /// `docker-manifest-digest`), as bytes: these bytes are what is signed.
    public static func payload(for digest: OCIDigest, in repository: Repository) -> [UInt8] {
        // Repository names and digests hold no character JSON escapes.
        let text = #"{"critical":{"identity":{"docker-reference":"\#(repository)"},"#
            + #""image":{"docker-manifest-digest":"\#(digest)"},"type":"\#(payloadType)"},"optional":null}"#
        return Array(text.utf8)
    }

    /// What a payload says: the digest it vouches for, or why it is not a cosign payload.
    public static func signedDigest(in payload: [UInt8]) throws(FirmwareError) -> OCIDigest {
        struct Payload: Decodable {
            struct Critical: Decodable {
                struct Image: Decodable {
                    var digest: String?
                    var legacyDigest: String?
                    enum CodingKeys: String, CodingKey {
                        case digest = "docker-manifest-digest"
                        case legacyDigest = "Docker-manifest-digest"  // the spec's example spells it so
                    }
                }
                var image: Image
                var type: String
            }
            var critical: Critical
        }
        let decoded: Payload
        do {
            decoded = try JSONDecoder().decode(Payload.self, from: Data(payload))
        } catch {
            throw .untrusted("the signature payload is not cosign simple-signing JSON (\(error))")
        }
        guard decoded.critical.type == payloadType else {
            throw .untrusted("the signature payload's type is \"\(decoded.critical.type)\", not \"\(payloadType)\"")
        }
        guard let text = decoded.critical.image.digest ?? decoded.critical.image.legacyDigest,
              let digest = try? OCIDigest(parsing: text) else {
            throw .untrusted("the signature payload names no valid docker-manifest-digest")
        }
        return digest
    }

    /// The signature artifact for `digest`: its manifest bytes and the blobs to push before it
    /// (config, payload). `sign` is the private-key operation (ECDSA-SHA256, DER).
    public static func artifact(for digest: OCIDigest, in repository: Repository,
                                sign: ([UInt8]) throws -> [UInt8]) throws -> (manifest: [UInt8], blobs: [(Descriptor, [UInt8])]) {
        let payload = payload(for: digest, in: repository)
        let signature = try sign(payload)
        var layer = Descriptor.of(payload, mediaType: payloadMediaType)
        layer.annotations = [signatureAnnotation: Base64.encode(signature)]
        // cosign's config: an image config whose rootfs lists the payload layer.
        let config = Array(#"{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["\#(layer.digest)"]}}"#.utf8)
        let configDescriptor = Descriptor.of(config, mediaType: MediaType.ociConfig)
        let manifest = ImageManifest(config: configDescriptor, layers: [layer])
        return (try FirmwarePublisher.encode(manifest), [(configDescriptor, config), (layer, payload)])
    }

    /// Checks one signature layer: the annotation is a valid signature of `payload` by `key`, and
    /// the payload names `digest`. Throws `.untrusted` saying which part failed.
    public static func verify(layer: Descriptor, payload: [UInt8], signs digest: OCIDigest,
                              with key: ECDSAP256PublicKey) throws(FirmwareError) {
        guard let encoded = layer.annotations?[signatureAnnotation] else {
            throw .untrusted("the signature layer has no \(signatureAnnotation) annotation")
        }
        guard let signature = Base64.decode(encoded) else {
            throw .untrusted("the \(signatureAnnotation) annotation is not base64")
        }
        guard key.isValidSignature(signature, for: payload) else {
            throw .untrusted("the signature does not verify with the configured cosign public key (signed by another key, or altered)")
        }
        let named = try signedDigest(in: payload)
        guard named == digest else {
            throw .untrusted("the signature is for manifest \(named), not for \(digest)")
        }
    }
}
