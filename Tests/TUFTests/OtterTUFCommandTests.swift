import Foundation
import Testing
import TUF

/// `otter tuf refresh`: the device integration of the TUF client, run as the real executable.
@Suite struct OtterTUFCommandTests {
    static let otter = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("otter").path

    @Test func refreshSeedsFromTheShippedRootAndListsVerifiedTargets() throws {
        let repository = try TUFRepository.small()
        try repository.publishAll(root: true)
        let server = try LocalServer()
        server.serve(repository)
        let sysroot = try temporaryDirectory()
        try FileManager.default.createDirectory(atPath: sysroot + "/usr/lib/otter/tuf", withIntermediateDirectories: true)
        try Data(repository.metadata["1.root.json"]!).write(to: URL(fileURLWithPath: sysroot + "/usr/lib/otter/tuf/root.json"))

        let result = try run(Self.otter, ["tuf", "refresh", "--sysroot", sysroot, "--repo", server.metadataURL, "--json"])
        #expect(result.status == 0)
        let listing = try JSONSerialization.jsonObject(with: Data(result.output)) as? [String: Any]
        let targets = listing?["targets"] as? [[String: Any]]
        #expect(targets?.map { $0["name"] as? String } == ["file.txt"])
        for role in ["root.json", "timestamp.json", "snapshot.json", "targets.json"] {
            #expect(FileManager.default.fileExists(atPath: sysroot + "/var/lib/otter/tuf/" + role), "\(role) trusted")
        }
        // Nothing new: a second refresh still succeeds from the trusted copy.
        #expect(try run(Self.otter, ["tuf", "refresh", "--sysroot", sysroot, "--repo", server.metadataURL]).status == 0)
    }

    @Test func refreshWithoutAShippedRootFails() throws {
        let sysroot = try temporaryDirectory()
        let result = try run(Self.otter, ["tuf", "refresh", "--sysroot", sysroot, "--repo", "http://127.0.0.1:9/"])
        #expect(result.status == 1)
        #expect(!FileManager.default.fileExists(atPath: sysroot + "/var/lib/otter/tuf/timestamp.json"))
    }

    @Test func refreshReadsARepositoryOnADiskThroughFileURLs() throws {
        let repository = try TUFRepository.small()
        try repository.publishAll(root: true)
        let disk = try temporaryDirectory()
        try repository.write(to: disk)
        let sysroot = try temporaryDirectory()
        try FileManager.default.createDirectory(atPath: sysroot + "/usr/lib/otter/tuf", withIntermediateDirectories: true)
        try Data(repository.metadata["1.root.json"]!).write(to: URL(fileURLWithPath: sysroot + "/usr/lib/otter/tuf/1.root.json"))

        let result = try run(Self.otter, ["tuf", "refresh", "--sysroot", sysroot, "--repo", "file://\(disk)/metadata", "--json"])
        #expect(result.status == 0, "\(String(decoding: result.output, as: UTF8.self))")
        #expect(FileManager.default.fileExists(atPath: sysroot + "/var/lib/otter/tuf/targets.json"))

        // A tampered timestamp on the disk is refused and the trusted copy stays.
        let trusted = try Data(contentsOf: URL(fileURLWithPath: sysroot + "/var/lib/otter/tuf/timestamp.json"))
        repository.bumpVersion("timestamp")
        try repository.publishTimestamp()
        var forged = repository.metadata["timestamp.json"]!
        forged[forged.count / 2] ^= 0x01
        try Data(forged).write(to: URL(fileURLWithPath: disk + "/metadata/timestamp.json"))
        #expect(try run(Self.otter, ["tuf", "refresh", "--sysroot", sysroot, "--repo", "file://\(disk)/metadata"]).status == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: sysroot + "/var/lib/otter/tuf/timestamp.json")) == trusted)
    }
}
