import Archive
import Foundation
import Testing
import TestSupport

@Suite struct ArchiveTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "otter-archive-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    @Test func writtenGzipTarIsReproducibleAndReadByGNUTar() throws {
        try Data("big\n".utf8).write(to: URL(fileURLWithPath: dir + "/source.bin"))
        func write(_ path: String) throws {
            let writer = try ArchiveWriter(path: path, compression: .gzip)
            try writer.addDirectory("app")
            try writer.addFile("app/docker-compose.yml", bytes: Array("services: {}\n".utf8))
            try writer.addFile("app/data.bin", contentsOf: dir + "/source.bin", mode: 0o600)
            try writer.addSymlink("app/link", target: "data.bin")
            try writer.finish()
        }
        try write(dir + "/a.tgz")
        sleep(1)
        try write(dir + "/b.tgz")
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.tgz"))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/b.tgz"))
        #expect(a == b, "same input, one second apart, must give the same bytes")

        let listing = try runProcess("/bin/tar", ["-tzvf", dir + "/a.tgz"])
        #expect(listing.status == 0, "\(listing.err)")
        #expect(listing.out.contains("app/docker-compose.yml"))
        #expect(listing.out.contains("1970-01-01"), "times are zeroed: \(listing.out)")
        #expect(listing.out.contains("-rw------- 0/0"), "mode and owner: \(listing.out)")
    }

    @Test func readsEntriesAndDataWrittenByGNUTar() throws {
        try FileManager.default.createDirectory(atPath: dir + "/src/sub", withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir + "/src/sub/hello.txt"))
        let tar = try runProcess("/bin/tar", ["-czf", dir + "/in.tgz", "-C", dir + "/src", "."])
        #expect(tar.status == 0)
        let reader = try ArchiveReader(path: dir + "/in.tgz")
        var found: [String: [UInt8]] = [:]
        while let entry = try reader.next() {
            if entry.kind == .file, let path = entry.relativePath { found[path] = try reader.readAll(limit: 1024) }
        }
        #expect(found == ["sub/hello.txt": Array("hello".utf8)])
    }

    @Test func extractsIntoDirectoryAndRefusesEntriesThatEscape() throws {
        let good = try ArchiveWriter(path: dir + "/good.tar", compression: .none)
        try good.addFile("./compose/docker-compose.yml", bytes: Array("x".utf8))
        try good.finish()
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        let entries = try ArchiveReader(path: dir + "/good.tar").extract(into: dir + "/out")
        #expect(entries.map(\.relativePath) == ["compose/docker-compose.yml"])
        #expect(FileManager.default.contents(atPath: dir + "/out/compose/docker-compose.yml") == Data("x".utf8))

        for bad in ["../evil", "/etc/evil", "a/../../evil"] {
            let writer = try ArchiveWriter(path: dir + "/bad.tar", compression: .none)
            try writer.addFile(bad, bytes: Array("x".utf8))
            try writer.finish()
            #expect(throws: ArchiveError.self) { try ArchiveReader(path: dir + "/bad.tar").extract(into: dir + "/out") }
        }
        let link = try ArchiveWriter(path: dir + "/link.tar", compression: .none)
        try link.addSymlink("escape", target: "../../etc")
        try link.finish()
        #expect(throws: ArchiveError.self) { try ArchiveReader(path: dir + "/link.tar").extract(into: dir + "/out") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/evil"))
    }

    @Test func extractionStopsAtTheByteLimit() throws {
        let writer = try ArchiveWriter(path: dir + "/big.tar", compression: .none)
        try writer.addFile("big", bytes: [UInt8](repeating: 7, count: 4096))
        try writer.finish()
        try FileManager.default.createDirectory(atPath: dir + "/out2", withIntermediateDirectories: true)
        #expect(throws: ArchiveError.self) {
            try ArchiveReader(path: dir + "/big.tar").extract(into: dir + "/out2", limits: ExtractionLimits(maxTotalBytes: 1000))
        }
    }

    @Test func unreadableInputNamesTheArchive() {
        do {
            let reader = try ArchiveReader(bytes: Array("not a tar at all".utf8), name: "bundle.tgz")
            _ = try reader.next()
            Issue.record("garbage was accepted")
        } catch {
            #expect("\(error)".contains("bundle.tgz"))
        }
    }
}
