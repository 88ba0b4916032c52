import Foundation
import Testing
import TUF

/// The `tuf-conformance-client` executable, end to end over HTTP on 127.0.0.1, driven with the
/// argv the conformance harness sends (TUF-CLIENT-CLI §2).
@Suite(.serialized) struct ConformanceClientTests {
    static let binary: String = {
        // Tests run from the products directory's test bundle; the executable sits beside it.
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("tuf-conformance-client").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return here.appendingPathComponent("tuf-conformance-client").path
    }()

    struct Case {
        let server: LocalServer
        let repository: TUFRepository
        let dir: String
        var metadataDir: String { dir + "/metadata" }
        var targetDir: String { dir + "/targets" }

        init(_ repository: TUFRepository) throws {
            self.repository = repository
            try repository.publishAll(root: true)
            server = try LocalServer()
            server.serve(repository)
            dir = try temporaryDirectory()
            try FileManager.default.createDirectory(atPath: dir + "/metadata", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/targets", withIntermediateDirectories: true)
            try Data(repository.metadata["1.root.json"]!).write(to: URL(fileURLWithPath: dir + "/initial_root.json"))
        }

        func client(_ arguments: [String], faketime: String? = nil) throws -> Int32 {
            server.reset()
            if let faketime {
                return try run("/usr/bin/faketime", [faketime, ConformanceClientTests.binary] + arguments).status
            }
            return try run(ConformanceClientTests.binary, arguments).status
        }

        func initialize() throws -> Int32 {
            try client(["--metadata-dir", metadataDir, "init", dir + "/initial_root.json"])
        }

        func refresh(faketime: String? = nil) throws -> Int32 {
            try client(["--metadata-url", server.metadataURL, "--metadata-dir", metadataDir, "refresh"], faketime: faketime)
        }

        func download(_ names: [String]) throws -> Int32 {
            try client(["--metadata-url", server.metadataURL, "--metadata-dir", metadataDir]
                       + names.flatMap { ["--target-name", $0] }
                       + ["--target-dir", targetDir, "--target-base-url", server.targetsURL, "download"])
        }

        func metadataFiles() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: metadataDir).filter { $0.hasSuffix(".json") }.sorted()
        }

        func file(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map(Array.init) }
    }

    @Test func initRefreshAndDownloadFollowTheContract() async throws {
        let repository = try TUFRepository.small()
        repository.addTarget("path/to/a/target_file.txt", content: bytes("payload"))
        let c = try Case(repository)
        defer { c.server.stop() }
        #expect(try c.initialize() == 0)
        #expect(c.server.requests.isEmpty)
        #expect(try c.refresh() == 0)
        #expect(c.server.requestNames == ["2.root.json", "timestamp.json", "1.snapshot.json", "1.targets.json"])
        #expect(try c.metadataFiles() == ["root.json", "snapshot.json", "targets.json", "timestamp.json"])
        #expect(c.file(c.metadataDir + "/timestamp.json") == repository.metadata["timestamp.json"])

        #expect(try c.download(["path/to/a/target_file.txt"]) == 0)
        #expect(c.file(c.targetDir + "/path%2Fto%2Fa%2Ftarget_file.txt") == bytes("payload"))
        // Cached: the second download makes no artifact request.
        #expect(try c.download(["path/to/a/target_file.txt"]) == 0)
        #expect(c.server.requestNames == ["2.root.json", "timestamp.json"])
        #expect(try c.download(["nonexistent target"]) == 1)
    }

    /// A check with nothing new sends the root N+1 probe and the timestamp, over one connection.
    @Test func checkWithNothingNewSendsTwoRequestsOverOneConnection() async throws {
        let c = try Case(try .small())
        defer { c.server.stop() }
        #expect(try c.initialize() == 0)
        #expect(try c.refresh() == 0)
        #expect(try c.refresh() == 0)
        #expect(c.server.requestNames == ["2.root.json", "timestamp.json"])
        #expect(c.server.connections == 1)
    }

    @Test func failsWithExitOneAndNoRequestOnABadTrustedRoot() async throws {
        let c = try Case(try .small())
        defer { c.server.stop() }
        try Data("{\"signed\": 1.5}".utf8).write(to: URL(fileURLWithPath: c.dir + "/initial_root.json"))
        #expect(try c.initialize() == 0)
        #expect(try c.refresh() == 1)
        #expect(c.server.requests.isEmpty)
    }

    @Test func exitsOneOnUsageErrorsAndNeverCrashes() async throws {
        let c = try Case(try .small())
        defer { c.server.stop() }
        #expect(try c.client([]) == 1)
        #expect(try c.client(["--metadata-dir"]) == 1)
        #expect(try c.client(["--metadata-dir", c.metadataDir, "frobnicate"]) == 1)
        #expect(try c.client(["--metadata-dir", c.metadataDir, "refresh"]) == 1)
        // Garbage from the server: exit 1, not a trap.
        #expect(try c.initialize() == 0)
        c.server.set("/repo/metadata/timestamp.json", bytes("{\"signed\":{\"version\":99999999999999999999999}}"))
        #expect(try c.refresh() == 1)
        c.server.set("/repo/metadata/timestamp.json", [0xFF, 0xFE, 0x00])
        #expect(try c.refresh() == 1)
    }

    /// Expiry is read from the libc clock, so `faketime` moves it (dynamic linking).
    @Test func followsFaketime() async throws {
        let repository = try TUFRepository(expires: Timestamp(tufExpires: "2030-01-01T00:00:00Z")!)
        let c = try Case(repository)
        defer { c.server.stop() }
        #expect(try c.initialize() == 0)
        #expect(try c.refresh(faketime: "2029-12-31 23:00:00") == 0)
        #expect(try c.refresh(faketime: "2030-01-01 00:00:01") == 1)
    }

    @Test func leavesTheTargetDirectoryUntouchedWhenVerificationFails() async throws {
        let repository = try TUFRepository.small()
        let c = try Case(repository)
        defer { c.server.stop() }
        let sha = repository.signed["targets"]!["targets"]!["file.txt"]!["hashes"]!["sha256"]!.stringValue!
        c.server.set("/repo/targets/\(sha).file.txt", bytes("HELLO"))
        #expect(try c.initialize() == 0)
        #expect(try c.download(["file.txt"]) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: c.targetDir).isEmpty)
    }
}
