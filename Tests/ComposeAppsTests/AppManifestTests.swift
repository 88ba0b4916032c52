import Foundation
import OCI
import Testing
@testable import ComposeApps

@Suite struct AppManifestTests {
    static let bundle = Descriptor.of(Array("bundle".utf8), mediaType: "application/octet-stream")

    @Test func builtManifestIsComposeAppV1AndParsesBack() throws {
        let meta = Descriptor.of(Array("{}".utf8), mediaType: "application/json")
        let built = AppManifest(bundle: Self.bundle, layersMeta: meta)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(built.bytes)) as? [String: Any])
        #expect(object["schemaVersion"] as? Int == 2)
        #expect(object["mediaType"] as? String == "application/vnd.oci.image.manifest.v1+json")
        #expect(object["artifactType"] as? String == "application/vnd.fio+compose-app")
        #expect(object["annotations"] as? [String: String] == ["compose-app": "v1"])
        let config = try #require(object["config"] as? [String: Any])
        #expect(config["mediaType"] as? String == "application/vnd.oci.empty.v1+json")
        #expect(config["digest"] as? String == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        #expect(config["size"] as? Int == 2)
        let layers = try #require(object["layers"] as? [[String: Any]])
        #expect(layers.count == 2)
        #expect(layers[0]["mediaType"] as? String == "application/octet-stream")
        #expect(layers[0]["digest"] as? String == Self.bundle.digest.description)
        #expect(layers[1]["annotations"] as? [String: String] == ["layers-meta": "v1"])

        let parsed = try AppManifest(bytes: built.bytes, what: "app")
        #expect(parsed.bundle.digest == Self.bundle.digest)
        #expect(parsed.layersMeta?.digest == meta.digest)
        #expect(parsed.digest == .sha256(of: built.bytes))
        #expect(AppManifest(bundle: Self.bundle).bytes == AppManifest(bundle: Self.bundle).bytes)
    }

    @Test func containerImageManifestIsRejectedAsNotAComposeApp() throws {
        let image = ImageManifest(config: Descriptor.of(Array("{}".utf8), mediaType: MediaType.ociConfig), layers: [Self.bundle])
        let error = #expect(throws: AppStoreError.self) {
            try AppManifest(bytes: Array(try JSONEncoder().encode(image)), what: "reg/app@sha256:x")
        }
        #expect(error.map { "\($0)" }?.contains("not a compose app") == true)
        #expect(error.map { "\($0)" }?.contains("compose-app") == true)
    }

    @Test func indexAndOtherArtifactTypeAndEmptyLayersAreRejected() throws {
        let index = ImageIndex(manifests: [])
        #expect(throws: AppStoreError.self) { try AppManifest(bytes: Array(try JSONEncoder().encode(index)), what: "i") }
        let other = ImageManifest(artifactType: "application/vnd.example", config: AppManifest.emptyConfig, layers: [Self.bundle],
                                  annotations: ["compose-app": "v1"])
        #expect(throws: AppStoreError.self) { try AppManifest(bytes: Array(try JSONEncoder().encode(other)), what: "o") }
        let empty = ImageManifest(artifactType: AppManifest.artifactType, config: AppManifest.emptyConfig, layers: [],
                                  annotations: ["compose-app": "v1"])
        #expect(throws: AppStoreError.self) { try AppManifest(bytes: Array(try JSONEncoder().encode(empty)), what: "e") }
    }

    @Test func manifestOverFiftyKiBIsRejected() throws {
        let manifest = ImageManifest(artifactType: AppManifest.artifactType, config: AppManifest.emptyConfig, layers: [Self.bundle],
                                     annotations: ["compose-app": "v1", "padding": String(repeating: "x", count: 51 * 1024)])
        let error = #expect(throws: AppStoreError.self) { try AppManifest(bytes: Array(try JSONEncoder().encode(manifest)), what: "big") }
        #expect(error.map { "\($0)" }?.contains("51") == true || error.map { "\($0)" }?.contains("more than") == true)
    }

    @Test func appURIMustBePinnedBySHA256() throws {
        let uri = try AppURI(parsing: "hub.example.com/factory/shellhttpd@sha256:\(String(repeating: "1", count: 64))")
        #expect(uri.defaultName == "shellhttpd")
        #expect(throws: AppStoreError.self) { try AppURI(parsing: "hub.example.com/factory/shellhttpd:v1") }
    }
}
