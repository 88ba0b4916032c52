import OCI
import Testing

@Suite struct ReferenceTests {
    static let hex = String(repeating: "ab", count: 32)

    @Test func parsesRegistryWithPortRepositoryAndDigest() throws {
        let reference = try Reference(parsing: "127.0.0.1:5000/factory/shellhttpd@sha256:\(Self.hex)")
        #expect(reference.repository.registry == "127.0.0.1:5000")
        #expect(reference.repository.name == "factory/shellhttpd")
        #expect(reference.tag == nil)
        #expect(reference.digest?.hex == Self.hex)
        #expect(reference.manifestReference == "sha256:\(Self.hex)")
    }

    @Test func parsesTagAfterPort() throws {
        let reference = try Reference(parsing: "localhost:5000/app:v1.2")
        #expect(reference.repository == Repository(registry: "localhost:5000", name: "app"))
        #expect(reference.tag == "v1.2")
        #expect(reference.manifestReference == "v1.2")
    }

    @Test func digestWinsOverTag() throws {
        let reference = try Reference(parsing: "hub.foundries.io/f/app:main@sha256:\(Self.hex)")
        #expect(reference.tag == "main")
        #expect(reference.manifestReference == "sha256:\(Self.hex)")
        #expect(reference.description == "hub.foundries.io/f/app:main@sha256:\(Self.hex)")
    }

    @Test func dockerHubNamesGetDefaultRegistryAndLibrary() throws {
        let reference = try Reference(parsing: "alpine:3.19")
        #expect(reference.repository == Repository(registry: "docker.io", name: "library/alpine"))
        let user = try Reference(parsing: "someone/tool:1")
        #expect(user.repository == Repository(registry: "docker.io", name: "someone/tool"))
    }

    @Test(arguments: [
        "registry.local/app",                  // neither tag nor digest
        "registry.local/App:1",                // upper case in the path
        "registry.local/app:-bad",             // tag starting with '-'
        "registry.local/app@sha256:1234",      // short digest
        "registry.local:99999/app:1",          // port out of range
        "registry.local//app:1",               // empty component
        "registry.local/a..b:1",               // double separator
    ])
    func rejectsMalformedReferences(_ text: String) {
        #expect(throws: OCIError.self) { try Reference(parsing: text) }
    }
}

@Suite struct DigestTests {
    @Test func parsesAndPrintsSha256() throws {
        let text = "sha256:" + String(repeating: "0f", count: 32)
        let digest = try OCIDigest(parsing: text)
        #expect(digest.algorithm == .sha256)
        #expect(digest.description == text)
    }

    @Test func computesTheDigestOfBytes() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        #expect(OCIDigest.sha256(of: Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(OCIDigest.sha256(of: Array("abc".utf8)).matches(Array("abc".utf8)))
        #expect(!OCIDigest.sha256(of: Array("abc".utf8)).matches(Array("abd".utf8)))
    }

    @Test(arguments: [
        "sha256:" + String(repeating: "A", count: 64),  // upper-case hex
        "sha256:" + String(repeating: "a", count: 63),
        "md5:" + String(repeating: "a", count: 32),
        "sha256" + String(repeating: "a", count: 64),
        "sha256:../../../../etc/passwd" + String(repeating: "a", count: 36),
    ])
    func rejectsMalformedDigests(_ text: String) {
        #expect(throws: OCIError.self) { try OCIDigest(parsing: text) }
    }
}
