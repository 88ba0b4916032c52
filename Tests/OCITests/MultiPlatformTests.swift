import Foundation
import HTTP
@testable import OCI
import Testing

/// An image index in a real registry: the client stores the index and fetches the platform's manifest.
@Suite(.serialized, .timeLimit(.minutes(2))) struct MultiPlatformTests {
    @Test func fetchesTheDevicePlatformsManifestFromAnIndex() async throws {
        let fixture = try await RegistryFixture.started()
        let amd = try await fixture.pushImage(repository: "multi", tag: "amd64", layerSizes: [1000])
        let arm = try await fixture.pushImage(repository: "multi", tag: "arm64", layerSizes: [2000])
        func entry(_ image: RegistryFixture.PushedImage, _ platform: Platform) throws -> Descriptor {
            let bytes = Array(try JSONEncoder().encode(image.manifest))
            return Descriptor(mediaType: MediaType.ociManifest, digest: image.digest, size: Int64(bytes.count), platform: platform)
        }
        let index = ImageIndex(manifests: [try entry(amd, Platform(architecture: "amd64")),
                                           try entry(arm, Platform(architecture: "arm64", variant: "v8"))])
        let pushed = try await fixture.pushManifest(bytes: Array(try JSONEncoder().encode(index)), mediaType: MediaType.ociIndex,
                                                    to: "multi", tag: "latest")
        let client = RegistryFetchTests.client(fixture)
        let reference = Reference(repository: Repository(registry: fixture.registry, name: "multi"), digest: pushed.digest)

        let forArm = try await client.imageManifest(reference, platform: Platform(architecture: "arm64"))
        #expect(forArm.manifest.digest == arm.digest)
        #expect(forArm.manifest.image == arm.manifest)
        #expect(forArm.index?.digest == pushed.digest)
        #expect(forArm.index?.index?.manifests.count == 2)
        let forAmd = try await client.imageManifest(reference, platform: Platform(architecture: "amd64"))
        #expect(forAmd.manifest.digest == amd.digest)

        let error = await #expect(throws: OCIError.self) {
            try await client.imageManifest(reference, platform: Platform(architecture: "riscv64"))
        }
        #expect(error.map { "\($0)" }?.contains("linux/riscv64") == true)
    }
}

@Suite struct AuthChallengeTests {
    @Test func parsesABearerChallengeWithQuotedCommas() {
        let challenges = AuthChallenge.parse([
            #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:f/app:pull,push""#,
        ])
        #expect(challenges == [AuthChallenge(scheme: "bearer", parameters: [
            "realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:f/app:pull,push",
        ])])
    }

    @Test func parsesSeveralChallengesInOneValue() {
        let challenges = AuthChallenge.parse([#"Basic realm="otter", Bearer realm="https://t/token",error="invalid_token""#])
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
        #expect(challenges[1].parameters["error"] == "invalid_token")
    }

    @Test func encodesScopeForTheTokenQuery() {
        #expect(percentEncoded("repository:f/app:pull,push") == "repository%3Af%2Fapp%3Apull%2Cpush")
    }
}
