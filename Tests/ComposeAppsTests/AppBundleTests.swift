import Archive
import Foundation
import OCI
import Testing
import TestSupport
@testable import ComposeApps

@Suite struct AppBundleTests {
    static let compose = "services:\n  web:\n    image: a.example.com/web@sha256:\(String(repeating: "0", count: 64))\n"

    func project(_ files: [String: String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-bundle-\(UUID())")
        for (path, content) in files {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
        }
        return directory.path
    }

    func entries(_ bundle: String) throws -> [String] {
        let reader = try ArchiveReader(path: bundle)
        var names: [String] = []
        while let entry = try reader.next() { names.append(entry.path) }
        return names
    }

    @Test func packingIsReproducibleSortedAndHonoursIgnores() throws {
        let files = ["docker-compose.yml": Self.compose, "b/z.txt": "z", "b/a.txt": "a", "secret.env": "x",
                     "logs/1.log": "l", "keep.log": "k", ".composeappignores": "# comment\n*.env\nlogs/\n!keep.log\n*.log\n!keep.log\n"]
        let one = try project(files)
        let bundle1 = FileManager.default.temporaryDirectory.appendingPathComponent("b1-\(UUID()).tgz").path
        let first = try AppBundle.pack(directory: one, to: bundle1)
        // Other times, another directory: the same bytes.
        sleep(1)
        let two = try project(files)
        let bundle2 = FileManager.default.temporaryDirectory.appendingPathComponent("b2-\(UUID()).tgz").path
        let second = try AppBundle.pack(directory: two, to: bundle2)
        #expect(first == second)
        #expect(first.digest.matches(Array(try Data(contentsOf: URL(fileURLWithPath: bundle1)))))
        #expect(try entries(bundle1) == [".composeappignores", "b/", "b/a.txt", "b/z.txt", "docker-compose.yml", "keep.log"])
        // An independent reader agrees on owners and times.
        let listing = try runProcess("/usr/bin/env", ["tar", "--numeric-owner", "--full-time", "-tvzf", bundle1])
        #expect(listing.status == 0)
        #expect(listing.out.split(separator: "\n").allSatisfy { $0.contains(" 0/0 ") && $0.contains("1970-01-01") })
    }

    @Test func unpackRestoresTheProjectAndParsesItsComposeFile() throws {
        let source = try project(["docker-compose.yml": Self.compose, "conf/app.conf": "x=1"])
        let bundle = source + ".tgz"
        try AppBundle.pack(directory: source, to: bundle)
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("unpacked-\(UUID())").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let compose = try AppBundle.unpack(bundle, into: target)
        #expect(compose.services.map(\.name) == ["web"])
        #expect(try String(contentsOfFile: target + "/conf/app.conf", encoding: .utf8) == "x=1")
    }

    @Test func projectWithoutComposeFileIsNotPacked() throws {
        let source = try project(["README": "x"])
        #expect(throws: AppStoreError.self) { try AppBundle.pack(directory: source, to: source + ".tgz") }
    }

    /// Malicious bundles written with python's tarfile, an independent writer.
    @Test(arguments: [
        ("../escape", "dotdot"), ("/tmp/otter-abs-escape", "absolute"), ("link", "symlink-out"),
        ("dev", "device"), ("docker-compose.yml", "huge-compose"),
    ])
    func unpackRefusesMaliciousBundles(_ name: String, _ kind: String) throws {
        let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("evil-\(UUID()).tgz").path
        let script = """
        import io, sys, tarfile
        path, name, kind = sys.argv[1:4]
        compose = b"services:\\n  web:\\n    image: a.example.com/web@sha256:\(String(repeating: "0", count: 64))\\n"
        with tarfile.open(path, "w:gz") as t:
            def add(n, data=b"", **kw):
                info = tarfile.TarInfo(n)
                for k, v in kw.items(): setattr(info, k, v)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            if kind == "huge-compose":
                add(name, compose + b"#" + b"x" * (1 << 20) + b"\\n")
            else:
                add("docker-compose.yml", compose)
            if kind in ("dotdot", "absolute"):
                add(name, b"owned")
            elif kind == "symlink-out":
                add(name, type=tarfile.SYMTYPE, linkname="/etc")
                add(name + "/passwd", b"owned")
            elif kind == "device":
                add(name, type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        """
        let made = try runProcess("/usr/bin/env", ["python3", "-c", script, bundle, name, kind])
        try #require(made.status == 0, "\(made.err)")
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("evil-out-\(UUID())").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        #expect(throws: (any Error).self) { try AppBundle.unpack(bundle, into: target) }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/otter-abs-escape"))
        #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: target).deletingLastPathComponent().appendingPathComponent("escape").path))
    }

    @Test func ignorePatternsMatchNamesAnchoredPathsAndDirectories() {
        let ignores = IgnorePatterns(text: "*.tmp\n/top.txt\ncache/\ndocs/*.md\n")
        #expect(ignores.matches("a/b/x.tmp", isDirectory: false))
        #expect(ignores.matches("top.txt", isDirectory: false))
        #expect(!ignores.matches("sub/top.txt", isDirectory: false))
        #expect(ignores.matches("sub/cache", isDirectory: true))
        #expect(!ignores.matches("sub/cache", isDirectory: false))
        #expect(ignores.matches("docs/a.md", isDirectory: false))
        #expect(!ignores.matches("docs/x/a.md", isDirectory: false))
    }
}
