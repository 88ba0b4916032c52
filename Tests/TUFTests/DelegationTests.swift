import Testing
@testable import TUF
import OtterCrypto

/// TUF §5.6.7 target search and §5.7 artifact download (TUF-CLIENT-CLI §8.6–8.7).
@Suite struct DelegationTests {
    func key() throws -> TUFSigningKey { try TUFSigningKey.generate(.ed25519) }

    @Test func searchesPreOrderDepthFirstInListedOrder() async throws {
        let repository = try TUFRepository.small()
        let a = try key(), b = try key(), c = try key()
        repository.delegate(from: "targets", to: "A", keys: [a], paths: ["*"])
        repository.delegate(from: "targets", to: "B", keys: [b], paths: ["*"])
        repository.delegate(from: "A", to: "C", keys: [c], paths: ["*"])
        repository.addTarget("x", content: bytes("in B"), role: "B")
        let harness = try Harness(repository)
        #expect(await harness.download(["x"]) == nil)
        #expect(harness.transport.requestNames.suffix(4) == ["1.A.json", "1.C.json", "1.B.json", "targets/" + Hex.encode(Digest.sha256(bytes("in B"))) + ".x"])
        #expect(harness.artifacts.files["x"] == bytes("in B"))
        #expect(harness.metadata.files["A.json"] != nil && harness.metadata.files["C.json"] != nil)
    }

    @Test func stopsAtATerminatingDelegation() async throws {
        let repository = try TUFRepository.small()
        repository.delegate(from: "targets", to: "A", keys: [try key()], paths: ["*"], terminating: true)
        repository.delegate(from: "targets", to: "B", keys: [try key()], paths: ["*"])
        repository.addTarget("x", content: bytes("in B"), role: "B")
        let harness = try Harness(repository)
        #expect(await harness.download(["x"]) == .targetNotFound)
        #expect(!harness.transport.requestNames.contains("1.B.json"))
    }

    @Test func terminatingDropsPendingRolesButSearchesItsSubtree() async throws {
        let repository = try TUFRepository.small()
        repository.delegate(from: "targets", to: "A", keys: [try key()], paths: ["*"])
        repository.delegate(from: "targets", to: "B", keys: [try key()], paths: ["*"])
        repository.delegate(from: "A", to: "T", keys: [try key()], paths: ["*"], terminating: true)
        repository.delegate(from: "T", to: "U", keys: [try key()], paths: ["*"])
        repository.addTarget("x", content: bytes("in U"), role: "U")
        repository.addTarget("y", content: bytes("in B"), role: "B")
        let harness = try Harness(repository)
        #expect(await harness.download(["x"]) == nil)
        #expect(await harness.download(["y"]) == .targetNotFound)
        #expect(!harness.transport.requestNames.contains("1.B.json"))
    }

    @Test func survivesDelegationCycles() async throws {
        let repository = try TUFRepository.small()
        let a = try key(), b = try key()
        repository.delegate(from: "targets", to: "A", keys: [a], paths: ["*"])
        repository.delegate(from: "A", to: "B", keys: [b], paths: ["*"])
        repository.delegate(from: "B", to: "A", keys: [a], paths: ["*"])
        let harness = try Harness(repository)
        #expect(await harness.download(["missing"]) == .targetNotFound)
        #expect(harness.transport.requestNames.filter { $0 == "1.A.json" }.count == 1)
    }

    @Test func followsOnlyMatchingPathsAndHashPrefixes() async throws {
        let repository = try TUFRepository.small()
        let path = "releases/y_v1.zip"
        let prefix = String(Hex.encode(Digest.sha256(bytes(path))).prefix(2))
        let other = prefix == "00" ? "01" : "00"
        repository.delegate(from: "targets", to: "docs", keys: [try key()], paths: ["*.md"])
        repository.delegate(from: "targets", to: "wrongbin", keys: [try key()], pathHashPrefixes: [other])
        repository.delegate(from: "targets", to: "bin", keys: [try key()], pathHashPrefixes: [prefix])
        repository.addTarget(path, content: bytes("zip"), role: "bin")
        let harness = try Harness(repository)
        #expect(await harness.download([path]) == nil)
        let names = harness.transport.requestNames
        #expect(!names.contains("1.docs.json") && !names.contains("1.wrongbin.json") && names.contains("1.bin.json"))
        #expect(harness.artifacts.files["releases%2Fy_v1.zip"] == bytes("zip"))
        #expect(names.last == "targets/releases/" + Hex.encode(Digest.sha256(bytes("zip"))) + ".y_v1.zip")
    }

    @Test func failsWithoutRequestForARoleMissingFromSnapshot() async throws {
        let repository = try TUFRepository.small()
        repository.delegate(from: "targets", to: "ghost", keys: [try key()], paths: ["*"])
        try repository.publishAll(root: true)
        var meta = repository.signed["snapshot"]!["meta"]!.objectValue!
        meta["ghost.json"] = nil
        repository.signed["snapshot"]!["meta"] = .object(meta)
        let snapshotBytes = try repository.signedBytes("snapshot")
        let harness = try Harness(repository)
        harness.transport.setMetadata("1.snapshot.json", snapshotBytes)
        #expect(await harness.download(["x"]) == .delegationNotInSnapshot)
        #expect(!harness.transport.requestNames.contains { $0.contains("ghost") })
        #expect(harness.metadata.files["ghost.json"] == nil)
    }

    @Test func encodesRoleNamesInFileNamesAndURLs() async throws {
        let repository = try TUFRepository.small()
        repository.delegate(from: "targets", to: "/delegated?role#1", keys: [try key()], paths: ["*"])
        repository.addTarget("artifact", content: bytes("a"), role: "/delegated?role#1")
        let harness = try Harness(repository)
        #expect(await harness.download(["artifact"]) == nil)
        #expect(harness.transport.requestNames.contains("1.%2Fdelegated%3Frole%231.json"))
        #expect(harness.metadata.files["%2Fdelegated%3Frole%231.json"] != nil)
    }

    /// `release` is delegated by parent-a and parent-b with different keys and signed only with
    /// parent-a's: reached through parent-b, the copy verified through parent-a must not count.
    @Test func verifiesADiamondRoleAgainstTheDelegatorThatReachedIt() async throws {
        let repository = try TUFRepository.small()
        let keyA = try key(), keyB = try key(), release = try key()
        repository.delegate(from: "targets", to: "parent-a", keys: [keyA], paths: ["team-a/*"])
        repository.delegate(from: "targets", to: "parent-b", keys: [keyB], paths: ["team-b/*"])
        repository.delegate(from: "parent-a", to: "release", keys: [release], paths: ["team-a/*", "team-b/*"])
        repository.delegate(from: "parent-b", to: "release", keys: [try key()], paths: ["team-a/*", "team-b/*"])
        repository.signers["release"] = [release]
        repository.addTarget("team-a/app", content: bytes("a"), role: "release")
        repository.addTarget("team-b/app", content: bytes("b"), role: "release")
        let harness = try Harness(repository)
        #expect(await harness.download(["team-a/app", "team-b/app"]) == .unsignedThreshold)
        #expect(harness.artifacts.files["team-a%2Fapp"] == bytes("a"))
        #expect(harness.artifacts.files["team-b%2Fapp"] == nil)
        #expect(harness.transport.requestNames.filter { $0 == "1.release.json" }.count == 1)
    }

    @Test func requestsEachRoleOncePerProcess() async throws {
        let repository = try TUFRepository.small()
        repository.delegate(from: "targets", to: "A", keys: [try key()], paths: ["*"])
        repository.addTarget("one", content: bytes("1"), role: "A")
        repository.addTarget("two", content: bytes("2"), role: "A")
        let harness = try Harness(repository)
        #expect(await harness.download(["one", "two"]) == nil)
        #expect(harness.transport.requestNames.filter { $0 == "1.A.json" }.count == 1)
        // A later process trusts the stored copy.
        #expect(await harness.download(["one"]) == nil)
        #expect(harness.transport.requestNames == ["2.root.json", "timestamp.json"])
    }

    @Test func refusesADelegatedRoleSignedByTheWrongKey() async throws {
        let repository = try TUFRepository.small()
        repository.delegate(from: "targets", to: "A", keys: [try key()], paths: ["*"])
        repository.signers["A"] = [try key()]
        repository.addTarget("x", content: bytes("x"), role: "A")
        let harness = try Harness(repository)
        #expect(await harness.download(["x"]) == .unsignedThreshold)
        #expect(harness.metadata.files["A.json"] == nil)
        #expect(harness.artifacts.files.isEmpty)
    }
}

@Suite struct ArtifactTests {
    @Test func keepsAValidCachedArtifactWithoutARequest() async throws {
        let harness = try Harness(try .small())
        #expect(await harness.download(["file.txt"]) == nil)
        #expect(harness.artifacts.writes == ["file.txt"])
        #expect(await harness.download(["file.txt"]) == nil)
        #expect(harness.artifacts.writes == ["file.txt"])
        #expect(!harness.transport.requestNames.contains { $0.hasPrefix("targets/") })
    }

    @Test func replacesAnArtifactWhoseContentChanged() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        #expect(await harness.download(["file.txt"]) == nil)
        repository.addTarget("file.txt", content: bytes("new content"))
        repository.bumpVersion("targets")
        repository.bumpVersion("snapshot")
        repository.bumpVersion("timestamp")
        try repository.publishAll()
        harness.transport.serve(repository)
        #expect(await harness.download(["file.txt"]) == nil)
        #expect(harness.artifacts.files["file.txt"] == bytes("new content"))
    }

    @Test func writesNothingWhenTheHashDoesNotMatch() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        let sha = Hex.encode(Digest.sha256(bytes("hello")))
        repository.artifacts[sha + ".file.txt"] = bytes("HELLO")
        harness.transport.serve(repository)
        #expect(await harness.download(["file.txt"]) == .lengthOrHashMismatch)
        #expect(harness.artifacts.files.isEmpty)
    }

    @Test func refusesAnArtifactLongerThanListed() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        let sha = Hex.encode(Digest.sha256(bytes("hello")))
        repository.artifacts[sha + ".file.txt"] = bytes("hello, and then some")
        harness.transport.serve(repository)
        #expect(await harness.download(["file.txt"]) == .tooLarge)
        #expect(harness.artifacts.files.isEmpty)
    }

    @Test func checksEveryListedHashIncludingSHA512() async throws {
        let repository = try TUFRepository.small()
        var entry = repository.signed["targets"]!["targets"]!["file.txt"]!.objectValue!
        var hashes = entry["hashes"]!.objectValue!
        hashes["sha512"] = .string(String(repeating: "0", count: 128))
        entry["hashes"] = .object(hashes)
        repository.setTargetEntry("file.txt", entry)
        let harness = try Harness(repository)
        #expect(await harness.download(["file.txt"]) == .lengthOrHashMismatch)
        #expect(harness.artifacts.files.isEmpty)
    }

    @Test func failsOnAnUnknownHashAlgorithm() async throws {
        let repository = try TUFRepository.small()
        var entry = repository.signed["targets"]!["targets"]!["file.txt"]!.objectValue!
        var hashes = entry["hashes"]!.objectValue!
        hashes["unknown-hash"] = .string("abcd")
        entry["hashes"] = .object(hashes)
        repository.setTargetEntry("file.txt", entry)
        let harness = try Harness(repository)
        #expect(await harness.download(["file.txt"]) == .unsupportedHash)
        #expect(harness.artifacts.files.isEmpty)
    }

    @Test func failsForATargetNobodyLists() async throws {
        let harness = try Harness(try .small())
        #expect(await harness.download(["nonexistent target"]) == .targetNotFound)
    }

    @Test func downloadsByPlainPathWithoutConsistentSnapshot() async throws {
        let repository = try TUFRepository.small(consistent: false)
        repository.addTarget("path/to/a/file", content: bytes("deep"))
        let harness = try Harness(repository)
        #expect(await harness.download(["path/to/a/file"]) == nil)
        #expect(harness.transport.requestNames.last == "targets/path/to/a/file")
    }

    @Test func storesTargetsUnderNamesThatCannotEscapeTheDirectory() {
        #expect(TUFClient.localName(for: "../../etc/passwd") == "%2E.%2F..%2Fetc%2Fpasswd")
        #expect(TUFClient.localName(for: "/abs") == "%2Fabs")
        #expect(TUFClient.localName(for: "..") == "%2E.")
        #expect(TUFClient.localName(for: ".hidden") == "%2Ehidden")
        #expect(TUFClient.localName(for: "path/to/a/target_file.txt") == "path%2Fto%2Fa%2Ftarget_file.txt")
    }
}
