import Foundation
import OCI
import Testing
@testable import ComposeApps

@Suite struct ComposeFileTests {
    static let digest = String(repeating: "ab", count: 32)

    @Test func listsServicesAndAcceptsImagesPinnedByDigest() throws {
        let file = try ComposeFile(yaml: """
        services:
          web:
            image: hub.example.com/factory/web@sha256:\(Self.digest)
          db:
            image: postgres@sha256:\(Self.digest)
        """, path: "c.yml")
        #expect(file.services.map(\.name) == ["web", "db"])
        let images = try file.pinnedImages()
        #expect(images.map(\.image) == ["hub.example.com/factory/web@sha256:\(Self.digest)", "postgres@sha256:\(Self.digest)"])
        #expect(images[1].reference.repository == Repository(registry: "docker.io", name: "library/postgres"))
    }

    @Test(arguments: ["nginx:1.25", "nginx", "nginx@sha256:1234", "hub.example.com/web:v1"])
    func unpinnedImageFailsNamingServiceAndImage(_ image: String) throws {
        let file = try ComposeFile(yaml: "services:\n  ok:\n    image: a@sha256:\(Self.digest)\n  web:\n    image: \(image)\n", path: "c.yml")
        let error = #expect(throws: AppStoreError.self) { try file.pinnedImages() }
        #expect(error == .unpinnedImage(service: "web", image: image, file: "c.yml"))
        #expect(error.map { "\($0)" }?.contains("--pin") == true)
    }

    @Test func serviceWithoutImageIsRefused() throws {
        let file = try ComposeFile(yaml: "services:\n  web:\n    build: .\n", path: "c.yml")
        #expect(throws: AppStoreError.unpinnedImage(service: "web", image: nil, file: "c.yml")) { try file.pinnedImages() }
    }

    @Test(arguments: ["", "- a\n- b\n", "services: []\n", "version: '3'\n", "services: {\n"])
    func fileWithoutServicesMappingIsRefused(_ yaml: String) {
        #expect(throws: AppStoreError.self) { try ComposeFile(yaml: yaml, path: "c.yml") }
    }

    @Test func composeFileOverOneMiBIsRefused() {
        let yaml = "services:\n  web:\n    image: a@sha256:\(Self.digest)\n# " + String(repeating: "x", count: 1 << 20) + "\n"
        let error = #expect(throws: AppStoreError.self) { try ComposeFile(yaml: yaml, path: "big.yml") }
        #expect(error.map { "\($0)" }?.contains("larger than") == true)
    }
}
