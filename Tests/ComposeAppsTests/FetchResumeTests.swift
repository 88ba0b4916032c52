import Foundation
import OCI
import Testing
import TestSupport
@testable import ComposeApps

/// `otter apps fetch` killed with SIGKILL half way through a big layer, then run again.
@Suite(.serialized, .timeLimit(.minutes(4))) struct FetchResumeTests {
    @Test func fetchKilledHalfWayResumesAndDownloadsOnlyTheRest() async throws {
        let f = try await AppsFixture()
        let big = try await f.pushImage("factory/big", layerSizes: [64 << 20, 1000])
        let uri = try await f.publish(try f.project("big", services: [("big", big.pinned)]), repository: "factory/big-app")
        let layer = big.manifest.layers[0]
        let root = f.temporaryPath("store")
        let partialPath = "\(root)/ingest/sha256-\(layer.digest.hex).partial"

        // Slow the first run down (one download at a time, 32 MiB/s: two seconds for the big
        // layer however fast loopback is); kill once > 8 MiB are held.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtProduct("otter"))
        process.arguments = ["apps", "fetch", "--apps-root", root, "--plain-http", f.host, "--max-concurrent", "1", "--limit-rate", "\(32 << 20)", "--json", uri]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var killedAt: Int64 = 0
        // A deadline, not a count of polls: on a loaded machine otter may take seconds to start.
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            let size = (try? FileManager.default.attributesOfItem(atPath: partialPath)[.size] as? Int64) ?? 0
            if size > 8 << 20 {
                kill(process.processIdentifier, SIGKILL)
                killedAt = size
                break
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(2))
        }
        process.waitUntilExit()
        try #require(killedAt > 0, "the fetch ended before it could be killed")
        #expect(process.terminationReason == .uncaughtSignal)
        let partial = try #require(FileManager.default.attributesOfItem(atPath: partialPath)[.size] as? Int64)
        #expect(partial >= killedAt && partial < layer.size)
        #expect(listing(root + "/bundles").isEmpty)

        let again = try otter(["apps", "fetch", "--apps-root", root, "--plain-http", f.host, "--json", uri])
        try #require(again.status == 0, "\(again.err)")
        let downloaded = try #require(try json(again.out)["downloadedBytes"] as? Int)
        // What was missing: the rest of the big layer, plus the small layer if the kill came first
        // (manifests and bundle were stored by the first run).
        let rest = Int(layer.size - partial)
        #expect(downloaded >= rest && downloaded <= rest + 1000 + Int(big.manifest.config.size))
        let store = try AppStore(root: root)
        let app = try store.storedApp(name: "big-app", uri: uri)
        #expect(try Data(contentsOf: URL(fileURLWithPath: app.images[0].layers[0].path)) == Data(big.layers[0]))
        #expect(listing(root + "/ingest").isEmpty)
    }
}
