import Foundation
import HTTP
import OCI
import Testing

/// distribution's token auth: the registry answers 401 with a Bearer challenge, the client gets
/// a JWT from the realm (with Basic credentials) and retries; tokens are cached until expiry.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RegistryTokenAuthTests {
    static let credentials = RegistryCredentials(username: "device-1", password: "token-pass")

    /// A registry holding one image, restarted with token auth on.
    static func protectedRegistry(_ tokens: TokenServer) async throws -> (RegistryFixture, RegistryFixture.PushedImage) {
        let fixture = try await RegistryFixture.started()
        let image = try await fixture.pushImage(repository: "factory/app", tag: "v1", layerSizes: [150_000, 20_000])
        fixture.stop()
        try fixture.writeTokenAuthConfig(tokens)
        try await fixture.start()
        return (fixture, image)
    }

    @Test func fetchesWithABearerTokenFetchedOnceAndCached() async throws {
        let tokens = try TokenServer(user: Self.credentials.username, password: Self.credentials.password)
        let (fixture, image) = try await Self.protectedRegistry(tokens)
        let client = RegistryFetchTests.client(fixture, credentials: Self.credentials)
        let repository = Repository(registry: fixture.registry, name: "factory/app")

        // Without a token the registry refuses: token auth is really on.
        let anonymous = HTTPClient(configuration: .init(retry: .none, proxy: .none))
        #expect(try await anonymous.head("http://\(fixture.registry)/v2/factory/app/manifests/v1").status == 401)

        let manifest = try await client.manifest(Reference(repository: repository, tag: "v1"))
        #expect(manifest.digest == image.digest)
        let store = try temporaryStore()
        let results = try await store.fetchAll(manifest.image!.blobs, from: client, repository: repository)
        #expect(results.count == 3)
        #expect(image.manifest.blobs.allSatisfy { store.has($0.digest) })
        #expect(try await client.tags(of: repository) == ["v1"])
        // One challenge answered; every later request reused the cached token.
        #expect(try await tokens.stats().tokens == 1)
    }

    @Test func expiredTokenIsRenewed() async throws {
        let tokens = try TokenServer(user: Self.credentials.username, password: Self.credentials.password, lifetime: 1)
        let (fixture, image) = try await Self.protectedRegistry(tokens)
        let client = RegistryFetchTests.client(fixture, credentials: Self.credentials)
        let reference = Reference(repository: Repository(registry: fixture.registry, name: "factory/app"), digest: image.digest)
        _ = try await client.manifest(reference)
        try await Task.sleep(for: .milliseconds(1200))
        _ = try await client.manifest(reference)
        #expect(try await tokens.stats().tokens == 2)
    }

    @Test func wrongCredentialsFailClearlyNamingTheRepository() async throws {
        let tokens = try TokenServer(user: Self.credentials.username, password: Self.credentials.password)
        let (fixture, image) = try await Self.protectedRegistry(tokens)
        let client = RegistryFetchTests.client(fixture, credentials: RegistryCredentials(username: "device-1", password: "nope"))
        let reference = Reference(repository: Repository(registry: fixture.registry, name: "factory/app"), digest: image.digest)
        let error = await #expect(throws: OCIError.self) { try await client.manifest(reference) }
        guard case .unauthorized(let registry, let repository, let reason) = error else {
            Issue.record("expected .unauthorized, got \(String(describing: error))")
            return
        }
        #expect(registry == fixture.registry)
        #expect(repository == "factory/app")
        #expect(reason.contains("401"))
        #expect(try await tokens.stats().refused == 1)
    }
}
