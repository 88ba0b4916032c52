import Foundation
import Testing
@testable import TUF

/// TUF §5.3–5.6 as TUF-CLIENT-CLI §8.2–8.5 spells them out, against an in-memory repository.
@Suite struct RefreshWorkflowTests {
    @Test func firstRefreshMakesExactlyFourRequestsAndStoresBytesAsReceived() async throws {
        let harness = try Harness(try .small())
        #expect(await harness.refresh() == nil)
        #expect(harness.transport.requestNames == ["2.root.json", "timestamp.json", "1.snapshot.json", "1.targets.json"])
        #expect(harness.metadata.files["timestamp.json"] == harness.repository.metadata["timestamp.json"])
        #expect(harness.metadata.files["snapshot.json"] == harness.repository.metadata["1.snapshot.json"])
        #expect(harness.metadata.files["targets.json"] == harness.repository.metadata["1.targets.json"])
        #expect(Set(harness.metadata.files.keys) == ["root.json", "timestamp.json", "snapshot.json", "targets.json"])
    }

    @Test func checkWithNothingNewRequestsOnlyTheRootProbeAndTimestamp() async throws {
        let harness = try Harness(try .small())
        #expect(await harness.refresh() == nil)
        #expect(await harness.refresh() == nil)
        #expect(harness.transport.requestNames == ["2.root.json", "timestamp.json"])
    }

    @Test func usesUnversionedNamesWithoutConsistentSnapshot() async throws {
        let harness = try Harness(try .small(consistent: false))
        #expect(await harness.refresh() == nil)
        #expect(harness.transport.requestNames == ["2.root.json", "timestamp.json", "snapshot.json", "targets.json"])
    }

    @Test func refusesALocalRootNotSignedByItselfWithoutAnyRequest() async throws {
        let harness = try Harness(try .small())
        var text = String(decoding: harness.metadata.files["root.json"]!, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"version\":1", with: "\"version\":1,\"x\":1")
        harness.metadata.files["root.json"] = bytes(text)
        #expect(await harness.refresh() == .unsignedThreshold)
        #expect(harness.transport.requests.isEmpty)
        harness.metadata.files["root.json"] = bytes("{not json")
        #expect(await harness.refresh() == .malformed)
        #expect(harness.transport.requests.isEmpty)
    }

    // MARK: root

    @Test func rotatesRootKeysThroughSeveralVersions() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        var previous = repository.signers["root"]!
        for _ in 0..<3 {
            repository.rotateKeys(of: "root", to: [try TUFSigningKey.generate(.ecdsa)])
            repository.bumpVersion("root")
            try repository.publishRoot(alsoSignedBy: previous)
            previous = repository.signers["root"]!
        }
        #expect(await harness.refresh(republish: true) == nil)
        #expect(harness.version(of: "root.json") == 4)
        #expect(harness.metadata.files["root.json"] == repository.metadata["4.root.json"])
        #expect(harness.transport.requestNames.prefix(5) == ["2.root.json", "3.root.json", "4.root.json", "5.root.json", "timestamp.json"])
    }

    @Test func refusesANewRootNotSignedByTheOldRootKeys() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        repository.rotateKeys(of: "root", to: [try TUFSigningKey.generate(.ed25519)])
        repository.bumpVersion("root")
        try repository.publishRoot()  // new key only
        #expect(await harness.refresh(republish: true) == .unsignedThreshold)
        #expect(harness.version(of: "root.json") == 1)
        #expect(harness.metadata.files["timestamp.json"] == nil)
    }

    @Test func refusesANewRootNotSignedByItsOwnKeys() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        let old = repository.signers["root"]!
        repository.rotateKeys(of: "root", to: [try TUFSigningKey.generate(.ed25519)])
        repository.bumpVersion("root")
        repository.metadata["2.root.json"] = try repository.signedBytes("root", signedBy: old)
        #expect(await harness.refresh(republish: true) == .unsignedThreshold)
        #expect(harness.version(of: "root.json") == 1)
    }

    @Test func refusesARootFileHoldingAnotherVersion() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        repository.signed["root"]!["version"] = .integer(3)
        repository.metadata["2.root.json"] = try repository.signedBytes("root")
        #expect(await harness.refresh(republish: true) == .badVersion)
        #expect(harness.version(of: "root.json") == 1)
    }

    @Test func refusesARootWithTheWrongType() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        repository.bumpVersion("root")
        repository.signed["root"]!["_type"] = .string("targets")
        repository.metadata["2.root.json"] = try repository.signedBytes("root")
        #expect(await harness.refresh(republish: true) == .wrongType)
        #expect(harness.version(of: "root.json") == 1)
    }

    @Test func storesAnExpiredNewRootButFailsTheRefresh() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        let timestampBefore = harness.metadata.files["timestamp.json"]
        repository.bumpVersion("root")
        repository.setExpires("root", Timestamp(secondsSinceEpoch: 1_000_000_000))
        try repository.publishRoot()
        repository.bumpVersion("timestamp")
        try repository.publishTimestamp()
        #expect(await harness.refresh(republish: true) == .expired)
        #expect(harness.version(of: "root.json") == 2)
        #expect(harness.metadata.files["timestamp.json"] == timestampBefore)
        #expect(harness.transport.requestNames == ["2.root.json", "3.root.json"])
    }

    @Test func anExpiredLocalRootDoesNotStopTheUpdateToANewerOne() async throws {
        let repository = try TUFRepository.small()
        repository.setExpires("root", Timestamp(secondsSinceEpoch: 1_000_000_000))
        let harness = try Harness(repository)
        repository.setExpires("root", repository.expires)
        repository.bumpVersion("root")
        try repository.publishRoot()
        #expect(await harness.refresh(republish: true) == nil)
        #expect(harness.version(of: "root.json") == 2)
    }

    @Test func capsRootRotationsPerRefresh() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        for _ in 0..<5 {
            repository.bumpVersion("root")
            try repository.publishRoot()
        }
        harness.transport.serve(repository)
        var configuration = TUFClientConfiguration(metadataBaseURL: FakeTransport.metadataBase)
        configuration.maxRootRotations = 3
        let client = TUFClient(configuration: configuration, transport: harness.transport, store: harness.metadata)
        try await client.refresh()
        #expect(client.root?.signed.version == 4)
        #expect(!harness.transport.requestNames.contains("5.root.json"))
    }

    @Test func treatsARootProbeFailureOtherThanNotFoundAsFatal() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        harness.transport.setMetadata("2.root.json", Array(repeating: 0x20, count: 600_000))
        #expect(await harness.refresh() == .tooLarge)
    }

    // MARK: timestamp

    @Test func refusesATimestampRollback() async throws {
        let repository = try TUFRepository.small()
        repository.signed["timestamp"]!["version"] = .integer(5)
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        let before = harness.metadata.files["timestamp.json"]
        repository.signed["timestamp"]!["version"] = .integer(4)
        try repository.publishTimestamp()
        #expect(await harness.refresh(republish: true) == .rollback)
        #expect(harness.metadata.files["timestamp.json"] == before)
    }

    @Test func refusesATimestampThatRollsBackTheSnapshotVersion() async throws {
        let repository = try TUFRepository.small()
        repository.signed["snapshot"]!["version"] = .integer(3)
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        repository.signed["snapshot"]!["version"] = .integer(2)
        try repository.publishSnapshot()
        repository.bumpVersion("timestamp")
        try repository.publishTimestamp()
        #expect(await harness.refresh(republish: true) == .rollback)
        #expect(harness.version(of: "timestamp.json") == 1)
    }

    @Test func refusesAnExpiredTimestamp() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        repository.bumpVersion("timestamp")
        repository.setExpires("timestamp", Timestamp(secondsSinceEpoch: 1_000_000_000))
        try repository.publishTimestamp()
        #expect(await harness.refresh(republish: true) == .expired)
        #expect(harness.version(of: "timestamp.json") == 1)
    }

    @Test func refusesATimestampWithTheWrongTypeOrSigner() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        repository.signed["timestamp"]!["_type"] = .string("snapshot")
        repository.metadata["timestamp.json"] = try repository.signedBytes("timestamp")
        #expect(await harness.refresh(republish: true) == .wrongType)
        repository.signed["timestamp"]!["_type"] = .string("timestamp")
        repository.metadata["timestamp.json"] = try repository.signedBytes("timestamp", signedBy: repository.signers["snapshot"])
        #expect(await harness.refresh(republish: true) == .unsignedThreshold)
        #expect(harness.metadata.files["timestamp.json"] == nil)
    }

    @Test func failsWhenTheTimestampIsMissing() async throws {
        let harness = try Harness(try .small())
        harness.transport.setMetadata("timestamp.json", nil)
        #expect(await harness.refresh() == .notFound)
    }

    @Test func refusesEndlessData() async throws {
        let harness = try Harness(try .small())
        harness.transport.setMetadata("timestamp.json", Array(repeating: 0x20, count: 20_000))
        #expect(await harness.refresh() == .tooLarge)
        #expect(harness.metadata.files["timestamp.json"] == nil)
    }

    @Test func keepsTheTrustedTimestampWhenTheVersionIsUnchanged() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        let before = harness.metadata.files["timestamp.json"]!
        harness.transport.setMetadata("timestamp.json", before + [0x20])
        #expect(await harness.refresh() == nil)
        #expect(harness.metadata.files["timestamp.json"] == before)
        #expect(harness.transport.requestNames == ["2.root.json", "timestamp.json"])
    }

    // MARK: snapshot

    @Test func refusesASnapshotWhoseHashDoesNotMatchTheTimestamp() async throws {
        let repository = try TUFRepository.small()
        repository.listHashesInTimestamp = true
        let harness = try Harness(repository)
        harness.transport.setMetadata("1.snapshot.json", sameLengthTamper(repository.metadata["1.snapshot.json"]!))
        #expect(await harness.refresh() == .lengthOrHashMismatch)
        #expect(harness.metadata.files["timestamp.json"] != nil)
        #expect(harness.metadata.files["snapshot.json"] == nil)
    }

    @Test func refusesASnapshotOfAnotherVersionThanTheTimestampNames() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        // Mix and match: timestamp names snapshot v2, the server hands out v1 content as 2.snapshot.json.
        let old = repository.metadata["1.snapshot.json"]!
        repository.bumpVersion("snapshot")
        try repository.publishSnapshot()
        repository.bumpVersion("timestamp")
        try repository.publishTimestamp()
        repository.metadata["2.snapshot.json"] = old
        #expect(await harness.refresh(republish: true) == .badVersion)
        #expect(harness.version(of: "timestamp.json") == 2)
        #expect(harness.version(of: "snapshot.json") == 1)
    }

    @Test func refusesASnapshotThatRollsBackATargetsVersion() async throws {
        let repository = try TUFRepository.small()
        repository.signed["targets"]!["version"] = .integer(2)
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        repository.signed["targets"]!["version"] = .integer(1)
        repository.bumpVersion("snapshot")
        repository.bumpVersion("timestamp")
        try repository.publishAll()
        #expect(await harness.refresh(republish: true) == .rollback)
        #expect(harness.version(of: "snapshot.json") == 1)
    }

    @Test func refusesASnapshotThatDropsARole() async throws {
        let repository = try TUFRepository.small()
        repository.delegate(from: "targets", to: "team", keys: [try TUFSigningKey.generate(.ed25519)], paths: ["team/*"])
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        repository.signed["team"] = nil
        repository.bumpVersion("snapshot")
        repository.bumpVersion("timestamp")
        try repository.publishSnapshot()
        try repository.publishTimestamp()
        #expect(await harness.refresh(republish: true) == .rollback)
    }

    @Test func refusesAnExpiredOrBadlySignedSnapshot() async throws {
        let repository = try TUFRepository.small()
        repository.setExpires("snapshot", Timestamp(secondsSinceEpoch: 1_000_000_000))
        let harness = try Harness(repository)
        #expect(await harness.refresh() == .expired)
        #expect(harness.metadata.files["snapshot.json"] == nil)
        #expect(harness.metadata.files["timestamp.json"] != nil)
        repository.setExpires("snapshot", repository.expires)
        repository.metadata["1.snapshot.json"] = try repository.signedBytes("snapshot", signedBy: repository.signers["targets"])
        #expect(await harness.refresh(republish: true) == .unsignedThreshold)
        #expect(harness.metadata.files["snapshot.json"] == nil)
    }

    @Test func usesTheLocalSnapshotAndTargetsWhenCurrent() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        repository.bumpVersion("timestamp")
        try repository.publishTimestamp()
        #expect(await harness.refresh(republish: true) == nil)
        #expect(harness.transport.requestNames == ["2.root.json", "timestamp.json"])
        #expect(harness.version(of: "timestamp.json") == 2)
    }

    // MARK: targets

    @Test func refusesTargetsOfAnotherVersionThanTheSnapshotNames() async throws {
        let repository = try TUFRepository.small()
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        let old = repository.metadata["1.targets.json"]!
        repository.bumpVersion("targets")
        repository.bumpVersion("snapshot")
        repository.bumpVersion("timestamp")
        try repository.publishAll()
        repository.metadata["2.targets.json"] = old
        #expect(await harness.refresh(republish: true) == .badVersion)
        #expect(harness.version(of: "snapshot.json") == 2)
        #expect(harness.version(of: "targets.json") == 1)
    }

    @Test func refusesTargetsWhoseHashDoesNotMatchTheSnapshot() async throws {
        let repository = try TUFRepository.small()
        repository.listHashesInSnapshot = true
        let harness = try Harness(repository)
        harness.transport.setMetadata("1.targets.json", sameLengthTamper(repository.metadata["1.targets.json"]!))
        #expect(await harness.refresh() == .lengthOrHashMismatch)
        #expect(harness.metadata.files["targets.json"] == nil)
        #expect(harness.metadata.files["snapshot.json"] != nil)
    }

    @Test func refusesExpiredBadlySignedOrMistypedTargets() async throws {
        let repository = try TUFRepository.small()
        repository.setExpires("targets", Timestamp(secondsSinceEpoch: 1_000_000_000))
        let harness = try Harness(repository)
        #expect(await harness.refresh() == .expired)
        repository.setExpires("targets", repository.expires)
        repository.metadata["1.targets.json"] = try repository.signedBytes("targets", signedBy: repository.signers["snapshot"])
        #expect(await harness.refresh(republish: true) == .unsignedThreshold)
        repository.signed["targets"]!["_type"] = .string("root")
        repository.metadata["1.targets.json"] = try repository.signedBytes("targets")
        #expect(await harness.refresh(republish: true) == .wrongType)
        #expect(harness.metadata.files["targets.json"] == nil)
    }

    // MARK: fast-forward recovery

    @Test func recoversFromFastForwardAfterTimestampAndSnapshotKeyRotation() async throws {
        let repository = try TUFRepository.small()
        repository.signed["timestamp"]!["version"] = .integer(10)
        repository.signed["snapshot"]!["version"] = .integer(10)
        repository.signed["targets"]!["version"] = .integer(10)
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)
        // The repository rotates the timestamp and snapshot keys and starts again at 1.
        repository.rotateKeys(of: "timestamp", to: [try TUFSigningKey.generate(.ed25519)])
        repository.rotateKeys(of: "snapshot", to: [try TUFSigningKey.generate(.ed25519)])
        repository.bumpVersion("root")
        try repository.publishRoot()
        for role in ["timestamp", "snapshot", "targets"] { repository.signed[role]!["version"] = .integer(1) }
        try repository.publishAll()
        #expect(await harness.refresh(republish: true) == nil)
        #expect(harness.version(of: "timestamp.json") == 1)
        #expect(harness.version(of: "snapshot.json") == 1)
        #expect(harness.version(of: "targets.json") == 1)
    }

    @Test func parsesEveryTargetEntryStrictly() async throws {
        let repository = try TUFRepository.small()
        repository.setTargetEntry("bad", JSONObject(["length": .integer(-1), "hashes": .object(JSONObject(["sha256": .string("00")]))]))
        #expect(await (try Harness(repository)).refresh() == .malformed)
        repository.setTargetEntry("bad", JSONObject(["length": .integer(1), "hashes": .object(JSONObject())]))
        #expect(await (try Harness(repository)).refresh() == .malformed)
    }
}

/// Changes one byte of the spec version, keeping the length.
func sameLengthTamper(_ data: [UInt8]) -> [UInt8] {
    bytes(String(decoding: data, as: UTF8.self).replacingOccurrences(of: "1.0.31", with: "1.0.32"))
}
