import Foundation
import OSTree
import OtterCrypto
import Testing
import TestSupport

/// A server repo with v1 and v2 (10% of the payload changed), served on 127.0.0.1.
struct TwoVersions {
    let tmp = TempDir("otter-pull")
    let server: ServerRepo
    let c1: String
    let c2: String
    let key: SigningKey

    init(files: Int = 40, size: Int = 50_000, signed: Bool = true) async throws {
        server = try ServerRepo(at: tmp.sub("server"))
        try makeRootfs(at: tmp.sub("r1"), version: "1", payloadFiles: files, payloadSize: size, seed: 1)
        c1 = try server.commit(tmp.path + "/r1", version: "1")
        try makeRootfs(at: tmp.sub("r2"), version: "2", payloadFiles: files, payloadSize: size, seed: 1)
        // Change the first KB of every tenth file: a static delta carries a small bsdiff of
        // each, an object pull the whole new file.
        for i in stride(from: 0, to: files, by: 10) {
            let path = "\(tmp.path)/r2/usr/share/payload/f\(i)"
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes.replaceSubrange(0..<min(1000, size), with: pseudoRandomBytes(min(1000, size), seed: UInt64(1000 + i)))
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        c2 = try server.commit(tmp.path + "/r2", version: "2")
        key = try SigningKey(in: tmp.path)
        if signed {
            let repo = try Repo.open(at: server.path)
            for c in [c1, c2] { try await repo.sign(commit: c, with: key.key) }
        }
    }

    func localRepo(_ name: String, url: String) async throws -> Repo {
        let repo = try Repo.create(at: tmp.sub(name), mode: .bareUser)
        try await repo.addRemote(Remote(name: "origin", url: url))
        return repo
    }
}

@Suite struct PullTests {
    @Test func pullsACommitThatTheCLIverifies() async throws {
        let f = try await TwoVersions()
        let http = try FileServer(directory: f.server.path)
        let repo = try await f.localRepo("local", url: http.url)
        let op = repo.startPull(PullRequest(remote: "origin", commit: f.c1, trustedKeys: [f.key.key.publicKey]))
        var updates: [PullProgress] = []
        for await p in op.progress { updates.append(p) }
        let result = try await op.result()
        #expect(result.commit == f.c1)
        #expect(result.verifiedBy == f.key.key.publicKey.base64)
        #expect(result.bytesTransferred > 40 * 50_000 / 2)
        #expect(!result.usedStaticDelta)
        #expect(updates.last?.phase == .done)
        // Progress never goes backwards within a phase.
        let content = updates.filter { $0.phase == .content }.map(\.bytesTransferred)
        #expect(content == content.sorted())

        // The ostree CLI, as an independent peer, agrees.
        let local = f.tmp.path + "/local"
        try sh(["ostree", "fsck", "--repo=\(local)"])
        // `ostree commit -b os/main` bound the commit to that ref, so the pull used it.
        #expect(result.ref == "origin:os/main")
        #expect(try sh(["ostree", "rev-parse", "--repo=\(local)", result.ref]).trimmingCharacters(in: .whitespacesAndNewlines) == f.c1)
        let version = try sh(["ostree", "cat", "--repo=\(local)", f.c1, "/usr/bin/otter-test-version"])
        #expect(version == "1\n")
    }

    @Test func usesTheStaticDeltaAndTransfersOnlyIt() async throws {
        let f = try await TwoVersions(files: 40, size: 100_000)
        try f.server.staticDelta(from: f.c1, to: f.c2)
        let deltaServer = try FileServer(directory: f.server.path)
        let withDelta = try await f.localRepo("delta", url: deltaServer.url)
        _ = try await withDelta.pull(PullRequest(remote: "origin", commit: f.c1))
        let before = deltaServer.log.count
        let deltaPull = try await withDelta.pull(PullRequest(remote: "origin", commit: f.c2))
        #expect(deltaPull.usedStaticDelta)
        let deltaRequests = deltaServer.log.dropFirst(before)

        let objectServer = try FileServer(directory: f.server.path)
        let objects = try await f.localRepo("objects", url: objectServer.url)
        _ = try await objects.pull(PullRequest(remote: "origin", commit: f.c1))
        let objectPull = try await objects.pull(PullRequest(remote: "origin", commit: f.c2, useStaticDeltas: false))
        #expect(!objectPull.usedStaticDelta)

        // Only the delta crossed the wire: no changed objects fetched one by one next to it.
        let deltaSize = try FileManager.default.subpathsOfDirectory(atPath: f.server.path + "/deltas").reduce(UInt64(0)) { sum, sub in
            let attrs = try FileManager.default.attributesOfItem(atPath: f.server.path + "/deltas/" + sub)
            return sum + ((attrs[.type] as? FileAttributeType) == .typeRegular ? (attrs[.size] as! UInt64) : 0)
        }
        let fetchedContent = deltaRequests.filter { $0.hasPrefix("200") && $0.contains(".filez") }
        #expect(fetchedContent.isEmpty, "the delta pull fetched objects next to the delta: \(fetchedContent)")
        #expect(deltaPull.bytesTransferred <= deltaSize + 8192, "delta pull \(deltaPull.bytesTransferred) B, delta \(deltaSize) B")
        #expect(deltaPull.bytesTransferred * 2 < objectPull.bytesTransferred,
                "delta pull \(deltaPull.bytesTransferred) B vs object pull \(objectPull.bytesTransferred) B")
        try sh(["ostree", "fsck", "--repo=\(f.tmp.path)/delta"])
    }

    @Test func resumesFromFetchedObjectsAfterTheServerDies() async throws {
        let f = try await TwoVersions(files: 60, size: 50_000)
        let dying = try FileServer(directory: f.server.path, dieAfterBytes: 1_500_000)
        let repo = try await f.localRepo("local", url: dying.url)
        let failure = await #expect(throws: OSTreeError.self) {
            try await repo.pull(PullRequest(remote: "origin", commit: f.c1, networkRetries: 0))
        }
        #expect(failure?.context.contains(f.c1) == true)
        dying.waitForExit()

        let http = try FileServer(directory: f.server.path)
        try await repo.addRemote(Remote(name: "origin", url: http.url))
        let resumed = try await repo.pull(PullRequest(remote: "origin", commit: f.c1))

        let fresh = try await f.localRepo("fresh", url: http.url)
        let full = try await fresh.pull(PullRequest(remote: "origin", commit: f.c1))
        // At least the first ~1.4 MB were kept and not fetched again.
        #expect(resumed.bytesTransferred + 1_000_000 < full.bytesTransferred,
                "resumed \(resumed.bytesTransferred) B vs full \(full.bytesTransferred) B")
        try sh(["ostree", "fsck", "--repo=\(f.tmp.path)/local"])
    }

    @Test func corruptedObjectOnTheServerFailsAndLeavesNothingDeployable() async throws {
        let f = try await TwoVersions(files: 5, size: 10_000)
        // Damage one content object in the server's archive repo.
        let objects = try FileManager.default.subpathsOfDirectory(atPath: f.server.path + "/objects").filter { $0.hasSuffix(".filez") }.sorted()
        let victim = f.server.path + "/objects/" + objects[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: victim))
        let http = try FileServer(directory: f.server.path)
        let repo = try await f.localRepo("local", url: http.url)
        let error = await #expect(throws: OSTreeError.self) {
            try await repo.pull(PullRequest(remote: "origin", commit: f.c1, networkRetries: 0))
        }
        #expect(error?.description.contains(f.c1) == true)
        let commit = try? await repo.commit(f.c1)
        #expect(commit == nil || commit!.isPartial)
    }

    @Test func unsignedOrWronglySignedCommitIsNotPulled() async throws {
        let f = try await TwoVersions(files: 3, size: 1000, signed: false)
        let http = try FileServer(directory: f.server.path)
        let repo = try await f.localRepo("local", url: http.url)
        let unsigned = await #expect(throws: OSTreeError.self) {
            try await repo.pull(PullRequest(remote: "origin", commit: f.c1, trustedKeys: [f.key.key.publicKey]))
        }
        #expect(unsigned?.message.contains("is not signed") == true)
        #expect(try await repo.hasObject(commit: f.c1) == false)
        #expect(try await repo.resolve("origin:otter/os") == nil)

        let stranger = try Ed25519PrivateKey()
        try await Repo.open(at: f.server.path).sign(commit: f.c1, with: stranger)
        let wrong = await #expect(throws: OSTreeError.self) {
            try await repo.pull(PullRequest(remote: "origin", commit: f.c1, trustedKeys: [f.key.key.publicKey]))
        }
        #expect(wrong?.message.contains("not signed by any trusted key") == true)
        #expect(try await repo.hasObject(commit: f.c1) == false)
        // No content was fetched for the rejected commit: only config, the commit and its metadata.
        #expect(!http.log.contains { $0.contains(".filez") || $0.contains(".dirtree") })
    }

    @Test func remoteWithVerificationKeyEnforcesIt() async throws {
        let f = try await TwoVersions(files: 3, size: 1000, signed: false)
        let http = try FileServer(directory: f.server.path)
        let repo = try Repo.create(at: f.tmp.sub("local"), mode: .bareUser)
        try await repo.addRemote(Remote(name: "origin", url: http.url, verificationKeyFile: f.key.publicFile))
        await #expect(throws: OSTreeError.self) { try await repo.pull(PullRequest(remote: "origin", commit: f.c1)) }
        try await Repo.open(at: f.server.path).sign(commit: f.c1, with: f.key.key)
        let ok = try await repo.pull(PullRequest(remote: "origin", commit: f.c1))
        #expect(ok.verifiedBy == f.key.key.publicKey.base64)
    }

    @Test func unreachableServerIsAClearError() async throws {
        let tmp = TempDir()
        let repo = try Repo.create(at: tmp.sub("local"), mode: .bareUser)
        try await repo.addRemote(Remote(name: "origin", url: "http://127.0.0.1:9"))
        let commit = String(repeating: "ab", count: 32)
        let error = await #expect(throws: OSTreeError.self) {
            try await repo.pull(PullRequest(remote: "origin", commit: commit, networkRetries: 0))
        }
        #expect(error?.description.contains("http://127.0.0.1:9") == true)
        #expect(error?.description.contains(commit) == true)
    }

    @Test func rejectsAChecksumThatIsNotOne() async throws {
        let tmp = TempDir()
        let repo = try Repo.create(at: tmp.sub("local"), mode: .bareUser)
        try await repo.addRemote(Remote(name: "origin", url: "http://127.0.0.1:9"))
        let error = await #expect(throws: OSTreeError.self) { try await repo.pull(PullRequest(remote: "origin", commit: "v2")) }
        #expect(error?.message.contains("64-character") == true)
    }

    @Test func cancellationStopsThePull() async throws {
        let f = try await TwoVersions(files: 20, size: 50_000)
        let slow = try FileServer(directory: f.server.path, rate: 100_000)
        let repo = try await f.localRepo("local", url: slow.url)
        let op = repo.startPull(PullRequest(remote: "origin", commit: f.c1))
        try await Task.sleep(for: .milliseconds(1500))
        op.cancel()
        let started = ContinuousClock.now
        let error = await #expect(throws: OSTreeError.self) { try await op.result() }
        #expect(error?.isCancelled == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test(.disabled("libostree 2022.7 ignores low-speed-limit-* and, once cancelled by Otter's stall watch, still waits for the stalled request to finish (measured: 248 s)"))
    func stalledServerTimesOutInsteadOfHanging() async throws {
        let f = try await TwoVersions(files: 4, size: 50_000)
        let stalled = try FileServer(directory: f.server.path, rate: 200)
        let repo = try await f.localRepo("local", url: stalled.url)
        let started = ContinuousClock.now
        let error = await #expect(throws: OSTreeError.self) {
            try await repo.pull(PullRequest(remote: "origin", commit: f.c1, networkRetries: 0,
                                            lowSpeedLimitBytes: 5000, lowSpeedTimeSeconds: 2))
        }
        #expect(error?.description.contains(f.c1) == true)
        #expect(ContinuousClock.now - started < .seconds(30), "a stall must end the pull, not hang it")
    }

    @Test func fullFileSystemIsAClearErrorAndTheRepoStaysUsable() async throws {
        let f = try await TwoVersions(files: 40, size: 100_000)
        let small = f.tmp.sub("small")
        try sh(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small])
        defer { _ = try? sh(["umount", small], allowFailure: true) }
        let http = try FileServer(directory: f.server.path)
        let repo = try Repo.create(at: small + "/repo", mode: .bareUser)
        try await repo.addRemote(Remote(name: "origin", url: http.url))
        let error = await #expect(throws: OSTreeError.self) {
            try await repo.pull(PullRequest(remote: "origin", commit: f.c1, networkRetries: 0))
        }
        #expect(error?.isOutOfSpace == true, "\(String(describing: error))")
        // The repo still works: it opens, fsck passes, and once there is room the pull completes.
        let reopened = try Repo.open(at: small + "/repo")
        #expect(try await reopened.refs().isEmpty)
        try sh(["ostree", "fsck", "--repo=\(small)/repo"])
        try sh(["mount", "-o", "remount,size=64m", small])
        let done = try await reopened.pull(PullRequest(remote: "origin", commit: f.c1))
        #expect(done.commit == f.c1)
        try sh(["ostree", "fsck", "--repo=\(small)/repo"])
    }
}
