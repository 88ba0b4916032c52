import Foundation
import OSTree
import Testing
import TestSupport

@Suite struct RepoWriteTests {
    @Test func commitsADirectoryTheCLIReadsAndFscks() async throws {
        let tmp = TempDir()
        let repo = try Repo.create(at: tmp.sub("repo"), mode: .archive)
        try makeRootfs(at: tmp.sub("r1"), version: "1", payloadFiles: 20, payloadSize: 4096, seed: 1)
        let c1 = try await repo.writeCommit(from: tmp.path + "/r1", branch: "os/main", subject: "v1", version: "1",
                                            metadata: ["otter.hwid": "qemu-x86"], timestamp: 1_700_000_000)
        try makeRootfs(at: tmp.sub("r2"), version: "2", payloadFiles: 20, payloadSize: 4096, seed: 2)
        let c2 = try await repo.writeCommit(from: tmp.path + "/r2", branch: "os/main", subject: "v2", version: "2")

        #expect(try await repo.resolve("os/main") == c2)
        let commit = try await repo.commit(c2)
        #expect(commit.parent == c1)
        #expect(commit.version == "2")
        #expect(try await repo.commit(c1).timestamp == 1_700_000_000)
        #expect(try await repo.commit(c1).metadata["otter.hwid"] == "qemu-x86")

        // The ostree CLI as the independent reader.
        _ = try sh(["ostree", "fsck", "--repo=\(repo.path)"])
        let show = try sh(["ostree", "show", "--repo=\(repo.path)", "--print-metadata-key=ostree.ref-binding", c2])
        #expect(show.contains("os/main"))
        let listing = try sh(["ostree", "ls", "--repo=\(repo.path)", c2, "/usr/etc/os-release"])
        #expect(listing.contains("os-release"))
        let cat = try sh(["ostree", "cat", "--repo=\(repo.path)", c2, "/usr/etc/os-release"])
        #expect(cat.contains("Otter test OS 2"))
    }

    @Test func generatesAStaticDeltaTheCLIListsAndApplies() async throws {
        let tmp = TempDir()
        let repo = try Repo.create(at: tmp.sub("repo"), mode: .archive)
        try makeRootfs(at: tmp.sub("r1"), version: "1", payloadFiles: 10, payloadSize: 8192, seed: 1)
        let c1 = try await repo.writeCommit(from: tmp.path + "/r1", branch: "os/main", subject: "v1", version: "1")
        try makeRootfs(at: tmp.sub("r2"), version: "2", payloadFiles: 10, payloadSize: 8192, seed: 2)
        let c2 = try await repo.writeCommit(from: tmp.path + "/r2", branch: "os/main", subject: "v2", version: "2")
        try await repo.generateStaticDelta(from: c1, to: c2)
        try await repo.regenerateSummary()
        let deltas = try sh(["ostree", "static-delta", "list", "--repo=\(repo.path)"])
        #expect(deltas.contains("\(c1)-\(c2)"))

        // A client holding c1 pulls c2 through the delta with the CLI.
        let client = tmp.sub("client")
        _ = try sh(["ostree", "init", "--repo=\(client)", "--mode=bare-user"])
        _ = try sh(["ostree", "pull-local", "--repo=\(client)", repo.path, c1])
        let pull = try sh(["ostree", "pull-local", "--repo=\(client)", "--require-static-deltas", repo.path, c2])
        _ = pull
        _ = try sh(["ostree", "fsck", "--repo=\(client)"])
        #expect(try sh(["ostree", "rev-parse", "--repo=\(client)", c2]).contains(c2))
    }

    @Test func committingAMissingDirectoryNamesItAndLeavesTheBranchAlone() async throws {
        let tmp = TempDir()
        let repo = try Repo.create(at: tmp.sub("repo"), mode: .archive)
        try makeRootfs(at: tmp.sub("r1"), version: "1")
        let c1 = try await repo.writeCommit(from: tmp.path + "/r1", branch: "os/main", subject: "v1")
        let error = await #expect(throws: OSTreeError.self) {
            _ = try await repo.writeCommit(from: tmp.path + "/nope", branch: "os/main", subject: "v2")
        }
        #expect(error?.description.contains("/nope") == true)
        #expect(try await repo.resolve("os/main") == c1)
    }
}
