import Foundation
import HTTP
import OCI
import Synchronization
import Testing

/// The registry client and the blob store against a real distribution registry.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RegistryFetchTests {
    static func client(_ fixture: RegistryFixture, credentials: RegistryCredentials? = nil,
                       retry: HTTPClient.RetryPolicy = .init(maxAttempts: 2, initialDelay: .milliseconds(100))) -> RegistryClient {
        let http = HTTPClient(configuration: .init(retry: retry, proxy: .none))
        var configuration = RegistryClient.Configuration(plainHTTPRegistries: [fixture.registry])
        if let credentials { configuration.credentials[fixture.registry] = credentials }
        return RegistryClient(http: http, configuration: configuration)
    }

    @Test func fetchesManifestAndBlobsIntoTheStoreVerified() async throws {
        let fixture = try await RegistryFixture.started()
        let image = try await fixture.pushImage(repository: "factory/app", tag: "v1", layerSizes: [1 << 20, 300_000, 17])
        let client = Self.client(fixture)
        let repository = Repository(registry: fixture.registry, name: "factory/app")

        // By tag, then pinned by the digest the tag resolved to.
        let byTag = try await client.manifest(Reference(parsing: "\(fixture.registry)/factory/app:v1"))
        #expect(byTag.digest == image.digest)
        let manifest = try await client.manifest(Reference(repository: repository, digest: image.digest))
        #expect(manifest.image == image.manifest)
        let head = try await client.manifestDescriptor(Reference(repository: repository, digest: image.digest))
        #expect(head?.digest == image.digest)
        #expect(head?.size == Int64(manifest.bytes.count))
        #expect(try await client.tags(of: repository) == ["v1"])
        #expect(try await client.blobSize(image.manifest.layers[0].digest, in: repository) == 1 << 20)

        let store = try temporaryStore()
        try store.store(manifest.bytes, as: manifest.descriptor)
        let blobs = image.manifest.blobs
        #expect(store.missingBytes(for: blobs) == blobs.reduce(0) { $0 + $1.size })
        let last = Mutex<BlobStore.SetProgress?>(nil)
        let results = try await store.fetchAll(blobs, from: client, repository: repository, maxConcurrent: 2) { progress in
            last.withLock { $0 = progress }
        }
        #expect(results.map(\.digest) == blobs.map(\.digest))
        #expect(results.allSatisfy { !$0.alreadyStored && $0.downloadedBytes > 0 })
        for (layer, bytes) in zip(image.manifest.layers, image.layers) {
            #expect(try Data(contentsOf: URL(fileURLWithPath: store.path(of: layer.digest))) == Data(bytes))
        }
        #expect(store.has(image.digest))
        #expect(store.missingBytes(for: blobs) == 0)
        let final = try #require(last.withLock { $0 })
        #expect(final.completedBytes == final.totalBytes)
        #expect(final.completedBlobs == blobs.count)
        #expect(listing(store.root + "/ingest").isEmpty)
    }

    @Test func refetchOfStoredBlobsDownloadsNothing() async throws {
        let fixture = try await RegistryFixture.started()
        let image = try await fixture.pushImage(repository: "app", tag: "v1", layerSizes: [200_000, 5_000])
        let client = Self.client(fixture)
        let repository = Repository(registry: fixture.registry, name: "app")
        let store = try temporaryStore()
        let first = try await store.fetchAll(image.manifest.blobs, from: client, repository: repository)
        #expect(first.reduce(0) { $0 + $1.downloadedBytes } == image.manifest.blobs.reduce(0) { $0 + $1.size })
        let again = try await store.fetchAll(image.manifest.blobs, from: client, repository: repository)
        #expect(again.allSatisfy { $0.alreadyStored })
        #expect(again.reduce(0) { $0 + $1.downloadedBytes } == 0)
    }

    @Test func blobCorruptedInTheRegistryFailsWithItsDigestAndLeavesNothing() async throws {
        let fixture = try await RegistryFixture.started()
        let repository = Repository(registry: fixture.registry, name: "app")
        let bytes = RegistryFixture.randomBytes(100_000)
        let descriptor = try await fixture.pushBlob(bytes, to: "app")
        // Same length, other bytes: the registry serves it as it is.
        var corrupt = bytes
        corrupt[50_000] ^= 0xFF
        try Data(corrupt).write(to: fixture.dataPath(of: descriptor.digest))

        let store = try temporaryStore()
        let error = await #expect(throws: OCIError.self) {
            try await store.fetch(descriptor, from: Self.client(fixture), repository: repository)
        }
        #expect(error == .digestMismatch(what: "blob \(descriptor.digest) of \(repository)", expected: descriptor.digest,
                                         actual: .sha256(of: corrupt)))
        #expect(error.map { "\($0)" }?.contains(descriptor.digest.description) == true)
        #expect(!store.has(descriptor.digest))
        #expect(listing(store.root + "/blobs/sha256").isEmpty)
        #expect(listing(store.root + "/ingest").isEmpty)
    }

    @Test func fetchResumesAfterTheRegistryIsKilledMidBlobDownloadingOnlyTheRest() async throws {
        let fixture = try await RegistryFixture.started()
        let repository = Repository(registry: fixture.registry, name: "big")
        let bytes = RegistryFixture.randomBytes(48 << 20)
        let descriptor = try await fixture.pushBlob(bytes, to: "big")
        let store = try temporaryStore()
        let client = Self.client(fixture, retry: .none)

        let pid = fixture.pid
        let killed = Mutex(false)
        await #expect(throws: OCIError.self) {
            try await store.fetch(descriptor, from: client, repository: repository) { held in
                guard held >= 4 << 20 else { return }
                killed.withLock { done in
                    if !done { kill(pid, SIGKILL); done = true }
                }
            }
        }
        #expect(killed.withLock { $0 })
        fixture.kill()  // reaps it
        let partial = store.partialSize(of: descriptor.digest)
        #expect(partial >= 4 << 20)
        #expect(partial < descriptor.size)
        #expect(!store.has(descriptor.digest))
        #expect(store.missingBytes(for: [descriptor]) == descriptor.size - partial)

        try await fixture.start()
        let result = try await store.fetch(descriptor, from: client, repository: repository)
        #expect(result.resumedFrom == partial)
        #expect(result.downloadedBytes == descriptor.size - partial)
        #expect(store.has(descriptor.digest))
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.path(of: descriptor.digest))) == Data(bytes))
        #expect(listing(store.root + "/ingest").isEmpty)
    }

    @Test func missingManifestIsNotFoundNamingTheReference() async throws {
        let fixture = try await RegistryFixture.started()
        let reference = try Reference(parsing: "\(fixture.registry)/nothing/here:v9")
        let error = await #expect(throws: OCIError.self) { try await Self.client(fixture).manifest(reference) }
        #expect(error.map { "\($0)" }?.contains("nothing/here:v9") == true)
    }
}

/// Basic authentication against a registry with `auth.htpasswd` (bcrypt from python3's crypt).
@Suite(.serialized, .timeLimit(.minutes(2))) struct RegistryBasicAuthTests {
    static let user = (user: "device", password: "s3cret-pass")

    @Test func fetchesWithTheRightCredentials() async throws {
        let fixture = try await RegistryFixture.started(htpasswd: Self.user)
        let image = try await fixture.pushImage(repository: "factory/app", tag: "v1", layerSizes: [10_000])
        let client = RegistryFetchTests.client(fixture, credentials: RegistryCredentials(username: "device", password: "s3cret-pass"))
        let repository = Repository(registry: fixture.registry, name: "factory/app")
        let manifest = try await client.manifest(Reference(repository: repository, digest: image.digest))
        let store = try temporaryStore()
        _ = try await store.fetchAll(manifest.image!.blobs, from: client, repository: repository)
        #expect(image.manifest.blobs.allSatisfy { store.has($0.digest) })
    }

    @Test(arguments: [RegistryCredentials(username: "device", password: "wrong"), nil])
    func refusesWithAClearErrorOnWrongOrMissingCredentials(_ credentials: RegistryCredentials?) async throws {
        let fixture = try await RegistryFixture.started(htpasswd: Self.user)
        let image = try await fixture.pushImage(repository: "factory/app", tag: "v1", layerSizes: [10])
        let client = RegistryFetchTests.client(fixture, credentials: credentials)
        let reference = Reference(repository: Repository(registry: fixture.registry, name: "factory/app"), digest: image.digest)
        let error = await #expect(throws: OCIError.self) { try await client.manifest(reference) }
        guard case .unauthorized(let registry, let repository, _) = error else {
            Issue.record("expected .unauthorized, got \(String(describing: error))")
            return
        }
        #expect(registry == fixture.registry)
        #expect(repository == "factory/app")
    }
}
