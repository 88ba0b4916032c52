import OCI
import Testing

@Suite struct ManifestTests {
    static let config = "sha256:" + String(repeating: "1", count: 64)
    static let layer = "sha256:" + String(repeating: "2", count: 64)

    @Test func parsesComposeAppStyleOCIManifest() throws {
        let json = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "artifactType":"application/vnd.fio+compose-app",
         "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\(Self.config)","size":2},
         "layers":[{"mediaType":"application/octet-stream","digest":"\(Self.layer)","size":1234,
                    "annotations":{"org.foundries.app.bundle.index.size":"10"}}],
         "annotations":{"compose-app":"v1"},
         "manifests":[]}
        """
        let manifest = try Manifest(bytes: Array(json.utf8), what: "app")
        let image = try #require(manifest.image)
        #expect(image.artifactType == "application/vnd.fio+compose-app")
        #expect(image.annotations?["compose-app"] == "v1")
        #expect(image.blobs.map(\.size) == [2, 1234])
        #expect(manifest.digest == OCIDigest.sha256(of: Array(json.utf8)))
        #expect(manifest.mediaType == MediaType.ociManifest)
    }

    @Test func parsesDockerSchema2ManifestByContentType() throws {
        let json = """
        {"schemaVersion":2,
         "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\(Self.config)","size":7},
         "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"\(Self.layer)","size":9}]}
        """
        let manifest = try Manifest(bytes: Array(json.utf8), contentType: MediaType.dockerManifest + "; charset=utf-8", what: "img")
        #expect(manifest.mediaType == MediaType.dockerManifest)
        #expect(manifest.image?.layers.first?.mediaType == MediaType.dockerLayerGzip)
    }

    @Test func picksThePlatformManifestFromAnIndex() throws {
        let amd = "sha256:" + String(repeating: "a", count: 64)
        let arm = "sha256:" + String(repeating: "b", count: 64)
        let json = """
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
         "manifests":[
          {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"\(amd)","size":500,
           "platform":{"architecture":"amd64","os":"linux"}},
          {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"\(arm)","size":501,
           "platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}
        """
        let index = try #require(try Manifest(bytes: Array(json.utf8), what: "multi").index)
        #expect(index.manifest(for: Platform(architecture: "arm64", variant: "v8"))?.digest.description == arm)
        #expect(index.manifest(for: Platform(architecture: "arm64"))?.digest.description == arm)
        #expect(index.manifest(for: Platform(architecture: "amd64"))?.digest.description == amd)
        #expect(index.manifest(for: Platform(architecture: "arm", variant: "v7")) == nil)
    }

    @Test func rejectsManifestsAboveTheSizeLimit() {
        let bytes = Array("{\"schemaVersion\":2,\"layers\":[]}".utf8) + [UInt8](repeating: 0x20, count: 100)
        #expect(throws: OCIError.tooLarge(what: "manifest big", limit: 64)) {
            try Manifest(bytes: bytes, what: "big", limits: Limits(manifestBytes: 64))
        }
    }

    @Test func rejectsSchema1AndGarbage() {
        #expect(throws: OCIError.self) { try Manifest(bytes: Array("{\"schemaVersion\":1,\"fsLayers\":[]}".utf8), what: "old") }
        #expect(throws: OCIError.self) { try Manifest(bytes: Array("not json".utf8), what: "junk") }
        // A digest that is not a valid digest.
        let bad = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:zz\",\"size\":1},\"layers\":[]}"
        #expect(throws: OCIError.self) { try Manifest(bytes: Array(bad.utf8), what: "bad") }
    }
}
