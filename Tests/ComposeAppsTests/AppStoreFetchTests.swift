import Foundation
import HTTP
import OCI
import Synchronization
import Testing
import TestSupport
@testable import ComposeApps

/// The app store against a real registry: fetch, refetch, corruption, space, credentials, prune.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AppStoreFetchTests {
    /// Two apps: one with a plain image and a multi-platform one, one sharing a layer-less image.
    struct Published {
        var web: AppsFixture.Image
        var worker: AppsFixture.Image
        var workerArm: AppsFixture.Image
        var indexPinned: String
        var uri: String
        var otherURI: String
    }

    func publishApps(_ f: AppsFixture) async throws -> Published {
        let web = try await f.pushImage("factory/web", layerSizes: [300_000, 40_000, 17])
        let worker = try await f.pushImage("factory/worker", tag: "amd64", layerSizes: [120_000])
        let workerArm = try await f.pushImage("factory/worker", tag: "arm64", layerSizes: [90_000], architecture: "arm64")
        let index = try await f.pushIndex("factory/worker", tag: "multi", entries: [
            (workerArm, Platform(architecture: "arm64", variant: "v8")), (worker, Platform(architecture: "amd64")),
        ])
        let uri = try await f.publish(try f.project("shop", services: [("web", web.pinned), ("worker", index.pinned)]),
                                      repository: "factory/shop")
        let other = try await f.publish(try f.project("other", services: [("web", web.pinned)]), repository: "factory/other")
        return Published(web: web, worker: worker, workerArm: workerArm, indexPinned: index.pinned, uri: uri, otherURI: other)
    }

    @Test func fetchStoresEveryImageOfTheDevicePlatformAndRefetchDownloadsNothing() async throws {
        let f = try await AppsFixture()
        let p = try await publishApps(f)
        let store = try AppStore(root: f.temporaryPath("store"), configuration: .init(platform: Platform(architecture: "amd64")))
        let last = Mutex<AppStore.FetchProgress?>(nil)
        let report = try await store.fetch(apps: [("shop", p.uri)], from: f.client()) { progress in last.withLock { $0 = progress } }
        let app = try #require(report.apps.first)
        #expect(app.name == "shop" && app.uri == p.uri)
        #expect(app.bundleDirectory == store.root + "/bundles/" + app.manifestDigest.hex)
        #expect(FileManager.default.fileExists(atPath: app.bundleDirectory + "/docker-compose.yml"))
        #expect(app.images.map(\.reference) == [p.web.pinned, p.indexPinned])
        #expect(app.images.map(\.manifestDigest) == [p.web.digest, p.worker.digest])
        #expect(app.images[1].layers.map(\.digest) == p.worker.manifest.layers.map(\.digest))
        for (layer, bytes) in zip(app.images[0].layers, p.web.layers) {
            #expect(try Data(contentsOf: URL(fileURLWithPath: layer.path)) == Data(bytes))
        }
        #expect(FileManager.default.fileExists(atPath: app.images[0].configPath))
        // The arm64 layer was not fetched; the index was stored (offline rebuild needs it).
        #expect(!store.blobs.has(p.workerArm.manifest.layers[0].digest))
        let imageBytes = (p.web.manifest.blobs + p.worker.manifest.blobs).reduce(Int64(0)) { $0 + $1.size }
        #expect(report.downloadedBytes > imageBytes)
        let final = try #require(last.withLock { $0 })
        #expect(final.phase == .done && final.completedBytes == imageBytes && final.totalBytes == imageBytes)
        #expect(listing(store.root + "/ingest").isEmpty)
        #expect(listing(store.root + "/tmp").isEmpty)

        // Offline rebuild, and a refetch that downloads nothing (a dead registry proves no request).
        #expect(try store.storedApp(name: "shop", uri: p.uri) == app)
        f.registry.kill()
        let again = try await store.fetch(apps: [("shop", p.uri)], from: f.client(retry: .none))
        #expect(again.downloadedBytes == 0)
        #expect(again.downloadedBlobs == 0)
        #expect(again.apps == [app])
    }

    @Test func storedAppOfAnAppNeverFetchedIsNotFetched() async throws {
        let store = try AppStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("s-\(UUID())").path)
        let uri = "127.0.0.1:5000/factory/x@sha256:\(String(repeating: "2", count: 64))"
        let error = #expect(throws: AppStoreError.self) { try store.storedApp(name: "x", uri: uri) }
        #expect(error.map { "\($0)" }?.contains("otter apps fetch x=\(uri)") == true)
    }

    @Test func blobCorruptedInTheRegistryFailsWithItsDigestAndLeavesNoBundle() async throws {
        let f = try await AppsFixture()
        let p = try await publishApps(f)
        let bad = p.web.manifest.layers[0].digest
        var corrupt = p.web.layers[0]
        corrupt[1000] ^= 0xFF
        try Data(corrupt).write(to: f.registry.dataPath(ofSHA256: bad.hex))

        let store = try AppStore(root: f.temporaryPath("store"))
        let error = await #expect(throws: OCIError.self) { try await store.fetch(apps: [("shop", p.uri)], from: f.client()) }
        #expect(error.map { "\($0)" }?.contains(bad.description) == true)
        #expect(listing(store.root + "/bundles").isEmpty)
        #expect(listing(store.root + "/tmp").isEmpty)
        #expect(!store.blobs.has(bad))
        #expect(!listing(store.root + "/ingest").contains { $0.contains(bad.hex) })
        #expect(throws: AppStoreError.self) { try store.storedApp(name: "shop", uri: p.uri) }
    }

    @Test func notEnoughSpaceFailsBeforeAnyImageBlobNamingNeededAndAvailable() async throws {
        let f = try await AppsFixture()
        let big = try await f.pushImage("factory/big", layerSizes: [12 << 20])
        let uri = try await f.publish(try f.project("big", services: [("big", big.pinned)]), repository: "factory/big-app")
        let mountPoint = f.temporaryPath("tmpfs")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try #require(try runProcess("/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint]).status == 0)
        defer { _ = try? runProcess("/usr/bin/env", ["umount", mountPoint]) }

        let root = mountPoint + "/apps"
        let run = try otter(["apps", "fetch", "--apps-root", root, "--plain-http", f.host, "--reserve-bytes", "1048576", "big=\(uri)"])
        #expect(run.status == 1)
        #expect(run.err.contains("not enough space"))
        #expect(run.err.contains("\((12 << 20) + 1_048_576 + big.manifest.config.size) bytes needed"))
        #expect(run.err.contains("available"))
        #expect(run.err.contains(root))
        #expect(listing(root + "/ingest").isEmpty)
        #expect(listing(root + "/bundles").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root + "/blobs/sha256/" + big.manifest.layers[0].digest.hex))
    }

    @Test func wrongCredentialsFailClearlyAndRightOnesFetch() async throws {
        let f = try await AppsFixture(htpasswd: (user: "device", password: "s3cret"))
        let image = try await f.pushImage("factory/web", layerSizes: [5000])
        let uri = try await f.publish(try f.project("web", services: [("web", image.pinned)]), repository: "factory/web-app")
        let root = f.temporaryPath("store")
        let wrong = try otter(["apps", "fetch", "--apps-root", root, "--plain-http", f.host, "--username", "device", "--password", "nope", uri])
        #expect(wrong.status == 1)
        #expect(wrong.err.contains("refused access to factory/web-app"))
        #expect(wrong.err.contains("credentials were refused"))
        let none = try otter(["apps", "fetch", "--apps-root", root, "--plain-http", f.host, uri])
        #expect(none.status == 1)
        #expect(none.err.contains("none are configured"))

        // The right ones, from a docker config.json.
        let config = f.temporaryPath("config.json")
        let auth = Data("device:s3cret".utf8).base64EncodedString()
        try "{\"auths\":{\"\(f.host)\":{\"auth\":\"\(auth)\"}}}".write(toFile: config, atomically: true, encoding: .utf8)
        let right = try otter(["apps", "fetch", "--apps-root", root, "--plain-http", f.host, "--registry-config", config, "--json", uri])
        try #require(right.status == 0, "\(right.err)")
        let apps = try #require(try json(right.out)["apps"] as? [[String: Any]])
        #expect(apps.first?["name"] as? String == "web-app")
    }

    @Test func pruneKeepsReferencedAppsAndRemovesTheRest() async throws {
        let f = try await AppsFixture()
        let p = try await publishApps(f)
        let root = f.temporaryPath("store")
        let fetch = try otter(["apps", "fetch", "--apps-root", root, "--plain-http", f.host, "--json", "shop=\(p.uri)", "other=\(p.otherURI)"])
        try #require(fetch.status == 0, "\(fetch.err)")
        let store = try AppStore(root: root)
        let shop = try store.storedApp(name: "shop", uri: p.uri)
        let other = try store.storedApp(name: "other", uri: p.otherURI)

        let ls = try otter(["apps", "ls", "--apps-root", root, "--json"])
        let listed = try #require(try json(ls.out)["apps"] as? [[String: Any]])
        #expect(listed.compactMap { $0["name"] as? String } == ["other", "shop"])
        #expect(listed.allSatisfy { ($0["sizeBytes"] as? Int ?? 0) > 0 && ($0["roles"] as? [String]) == ["pending"] })

        // Both pending: prune removes nothing.
        let none = try json(try otter(["apps", "prune", "--apps-root", root, "--json"]).out)
        #expect(none["removedBlobs"] as? Int == 0 && none["removedBundles"] as? Int == 0)

        // Only shop stays referenced: other's bundle and manifest go, the shared web image stays.
        try store.setReferences([AppReference(name: "shop", uri: p.uri)], role: AppStore.currentRole)
        try store.setReferences([], role: AppStore.pendingRole)
        let pruned = try json(try otter(["apps", "prune", "--apps-root", root, "--json"]).out)
        #expect(pruned["removedBundles"] as? Int == 1)
        #expect(pruned["removedBlobs"] as? Int == 2)  // other's app manifest and bundle
        #expect((pruned["freedBytes"] as? Int ?? 0) > 0)
        #expect(!FileManager.default.fileExists(atPath: other.bundleDirectory))
        #expect(!store.blobs.has(other.manifestDigest))
        #expect(try store.storedApp(name: "shop", uri: p.uri) == shop)
        for layer in shop.images.flatMap(\.layers) { #expect(FileManager.default.fileExists(atPath: layer.path)) }
        #expect(throws: AppStoreError.self) { try store.storedApp(name: "other", uri: p.otherURI) }
        #expect(try store.fetchedApps().map(\.name) == ["shop"])

        // Nothing referenced: the store empties.
        try store.setReferences([], role: AppStore.currentRole)
        try store.prune()
        #expect(listing(root + "/bundles").isEmpty)
        #expect(listing(root + "/blobs/sha256").isEmpty)
    }

    @Test func maliciousBundleInTheRegistryIsRefusedAndLeavesNothingUnpacked() async throws {
        let f = try await AppsFixture()
        let evil = f.temporaryPath("evil.tgz")
        let script = """
        import io, sys, tarfile
        with tarfile.open(sys.argv[1], "w:gz") as t:
            for name, data in (("docker-compose.yml", b"services: {}\\n"), ("../../outside", b"owned")):
                info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
        """
        try #require(try runProcess("/usr/bin/env", ["python3", "-c", script, evil]).status == 0)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: evil)))
        let repository = Repository(registry: f.host, name: "factory/evil")
        let bundle = Descriptor.of(bytes, mediaType: AppBundle.mediaType)
        let client = f.client()
        try await client.pushBlob(.bytes(bytes), as: bundle, to: repository)
        try await client.pushBlob(.bytes(AppManifest.emptyConfigBytes), as: AppManifest.emptyConfig, to: repository)
        let manifest = AppManifest(bundle: bundle)
        try await client.pushManifest(manifest.bytes, mediaType: MediaType.ociManifest, to: repository)
        let uri = Reference(repository: repository, digest: manifest.digest).description

        let store = try AppStore(root: f.temporaryPath("store"))
        let error = await #expect(throws: (any Error).self) { try await store.fetch(apps: [("evil", uri)], from: client) }
        #expect(error.map { "\($0)" }?.contains("../../outside") == true)
        #expect(listing(store.root + "/bundles").isEmpty)
        #expect(listing(store.root + "/tmp").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: store.root + "/outside"))
    }

    @Test func containerImageURIIsRefusedAsNotAComposeApp() async throws {
        let f = try await AppsFixture()
        let image = try await f.pushImage("factory/web", layerSizes: [100])
        let run = try otter(["apps", "fetch", "--apps-root", f.temporaryPath("store"), "--plain-http", f.host, image.pinned])
        #expect(run.status == 1)
        #expect(run.err.contains("\(image.pinned)) is not a compose app"))
        #expect(run.err.contains("compose-app"))
    }
}
