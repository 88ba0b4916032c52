import Foundation
import Testing
import Factory
import TestSupport

/// `otter-factory` end to end, with python-tuf's ngclient and the ostree CLI as the independent
/// readers of what it publishes.
@Suite struct FactoryCLITests {
    let dir: String
    var factory: String { dir + "/factory" }

    init() throws {
        dir = NSTemporaryDirectory() + "otter-factory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("otter-factory").path
    }

    @discardableResult
    func factoryCLI(_ args: [String], expect status: Int32 = 0) throws -> String {
        let result = try runProcess(Self.binary, args)
        #expect(result.status == status, "otter-factory \(args.joined(separator: " ")): \(result.err)")
        return status == 0 ? result.out : result.err
    }

    /// python-tuf's ngclient refreshes `client` (a metadata dir holding at least root.json) from
    /// the factory's CI repository over HTTP and returns `target`'s hashes and custom data.
    func pythonTUF(client: String, target: String) throws -> [String: Any]? {
        let port = freeLoopbackPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", "--bind", "127.0.0.1", "\(port)", "--directory", factory + "/tuf/ci"]
        server.standardError = FileHandle.nullDevice
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        let script = """
        import json, sys, time
        from tuf.ngclient import Updater
        for attempt in range(50):
            try:
                root = open(sys.argv[1] + "/root.json", "rb").read()
                u = Updater(bootstrap=root, metadata_dir=sys.argv[1], metadata_base_url=sys.argv[2], target_base_url=sys.argv[2])
                u.refresh()
                break
            except Exception as e:
                if attempt == 49: raise
                time.sleep(0.1)
        info = u.get_targetinfo(sys.argv[3])
        print(json.dumps({"hashes": info.hashes, "custom": info.custom}))
        """
        let result = try runProcess("/usr/bin/env", ["python3", "-c", script, client, "http://127.0.0.1:\(port)/", target])
        #expect(result.status == 0, "python-tuf: \(result.err)")
        return try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any]
    }

    @Test func refreshReSignsExpiringMetadataThatAClientOfTheOldVersionsAccepts() throws {
        try factoryCLI(["init", factory])
        let commit = String(repeating: "c1", count: 32)
        try factoryCLI(["targets", "add", "--factory", factory, "--version", "1", "--hwid", "qemu-x86", "--tag", "main", "--os", commit])
        // A device that trusts the current versions.
        try FileManager.default.createDirectory(atPath: dir + "/client", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: factory + "/tuf/ci/1.root.json", toPath: dir + "/client/root.json")
        #expect(try pythonTUF(client: dir + "/client", target: "qemu-x86-lmp-1") != nil)
        func timestamp() throws -> [String: Any] {
            let data = try Data(contentsOf: URL(fileURLWithPath: factory + "/tuf/ci/timestamp.json"))
            return try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["signed"] as? [String: Any])
        }
        let before = try timestamp()

        let fresh = try factoryCLI(["targets", "refresh", "--factory", factory, "--within-days", "30", "--json"])
        #expect(fresh.contains("\"refreshed\" : false"), "\(fresh)")
        #expect(try timestamp()["version"] as? Int == before["version"] as? Int)

        // 365-day metadata is within 400 days of expiring: re-signed with new versions and expiry.
        let refreshed = try factoryCLI(["targets", "refresh", "--factory", factory, "--within-days", "400"])
        #expect(refreshed.hasPrefix("re-signed targets, snapshot and timestamp"), "\(refreshed)")
        let after = try timestamp()
        #expect(after["version"] as? Int == (before["version"] as? Int ?? 0) + 1)
        #expect((after["expires"] as? String ?? "") >= (before["expires"] as? String ?? "~"))
        let seen = try pythonTUF(client: dir + "/client", target: "qemu-x86-lmp-1")
        #expect((seen?["hashes"] as? [String: String])?["sha256"] == commit)
        let targets = try Data(contentsOf: URL(fileURLWithPath: dir + "/client/targets.json"))
        let version = ((try JSONSerialization.jsonObject(with: targets) as? [String: Any])?["signed"] as? [String: Any])?["version"] as? Int
        #expect(version == 3, "the client took the re-signed targets (version 2 added Target 1)")
    }

    func rootfs(_ version: String) throws -> String {
        let root = dir + "/rootfs-\(version)"
        for sub in ["usr/etc", "usr/lib/modules/6.1.0", "usr/share/data"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        try "ID=otter\nPRETTY_NAME=\"Otter \(version)\"\n".write(toFile: root + "/usr/etc/os-release", atomically: true, encoding: .utf8)
        try "kernel \(version)\n".write(toFile: root + "/usr/lib/modules/6.1.0/vmlinuz", atomically: true, encoding: .utf8)
        try "initramfs\n".write(toFile: root + "/usr/lib/modules/6.1.0/initramfs.img", atomically: true, encoding: .utf8)
        try Data((0..<200_000).map { UInt8(($0 * 31 + Int(version)!) & 0xff) })
            .write(to: URL(fileURLWithPath: root + "/usr/share/data/blob-\(version)"))
        return root
    }

    @Test func publishesSignedCommitsDeltasAndTargetsThatPythonTUFAccepts() async throws {
        try factoryCLI(["init", factory])
        let c1 = try factoryCLI(["os", "publish", "--factory", factory, try rootfs("1"), "--version", "1", "--hwid", "qemu-x86"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let second = try factoryCLI(["os", "publish", "--factory", factory, try rootfs("2"), "--version", "2", "--hwid", "qemu-x86", "--json"])
        let published = try JSONSerialization.jsonObject(with: Data(second.utf8)) as! [String: String]
        let c2 = published["commit"]!
        #expect(published["parent"] == c1)
        #expect(published["delta"] == "\(c1)-\(c2)")

        // The ostree CLI reads the repo, its delta and the branch.
        let repo = factory + "/ostree"
        #expect(try runProcess("/usr/bin/ostree", ["fsck", "--repo=\(repo)"]).status == 0)
        #expect(try runProcess("/usr/bin/ostree", ["static-delta", "list", "--repo=\(repo)"]).out.contains("\(c1)-\(c2)"))
        #expect(try runProcess("/usr/bin/ostree", ["rev-parse", "--repo=\(repo)", "otter/qemu-x86"]).out.contains(c2))

        let app = "127.0.0.1:5000/factory/shellhttpd@sha256:" + String(repeating: "ab", count: 32)
        try factoryCLI(["targets", "add", "--factory", factory, "--version", "1", "--hwid", "qemu-x86", "--tag", "main", "--os", c1])
        try factoryCLI(["targets", "add", "--factory", factory, "--version", "2", "--hwid", "qemu-x86", "--tag", "main",
                        "--os", c2, "--app", "shellhttpd=\(app)"])
        try factoryCLI(["targets", "tag", "--factory", factory, "2", "--add", "beta"])
        let list = try factoryCLI(["targets", "list", "--factory", factory, "--json"])
        let targets = try JSONSerialization.jsonObject(with: Data(list.utf8)) as! [[String: Any]]
        #expect(targets.map { $0["name"] as? String } == ["qemu-x86-lmp-2", "qemu-x86-lmp-1"])
        #expect(targets.first?["tags"] as? [String] == ["main", "beta"])

        // python-tuf refreshes from the published files over HTTP and sees the Target's custom data.
        try FileManager.default.createDirectory(atPath: dir + "/client", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: factory + "/tuf/ci/1.root.json", toPath: dir + "/client/root.json")
        let seen = try pythonTUF(client: dir + "/client", target: "qemu-x86-lmp-2")
        #expect((seen?["hashes"] as? [String: String])?["sha256"] == c2)
        let custom = seen?["custom"] as? [String: Any]
        #expect(custom?["version"] as? String == "2")
        #expect(custom?["hardwareIds"] as? [String] == ["qemu-x86"])
        #expect(custom?["targetFormat"] as? String == "OSTREE")
        #expect((custom?["docker_compose_apps"] as? [String: [String: String]])?["shellhttpd"]?["uri"] == app)
    }

    @Test func refusesToOverwriteAFactoryAndExplainsAMissingOne() throws {
        try factoryCLI(["init", factory])
        let key = try String(contentsOfFile: factory + "/keys/tuf/root.key", encoding: .utf8)
        let again = try factoryCLI(["init", factory], expect: 1)
        #expect(again.contains("already holds a factory"))
        #expect(try String(contentsOfFile: factory + "/keys/tuf/root.key", encoding: .utf8) == key)
        for secret in ["keys/tuf/root.key", "keys/ostree/ed25519.secret", "pki/root.key", "pki/device-ca.key", "pki/gateway.key"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: factory + "/" + secret)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(secret)")
        }
        // The PKI chains for openssl: gateway and device CA below the root.
        for (file, extra) in [("gateway.crt", ["-verify_ip", "127.0.0.1", "-purpose", "sslserver"]), ("device-ca.crt", [])] {
            let verify = try runProcess("/usr/bin/openssl", ["verify", "-CAfile", factory + "/pki/root.crt"] + extra + [factory + "/pki/" + file])
            #expect(verify.status == 0, "\(file): \(verify.out) \(verify.err)")
        }

        let missing = try factoryCLI(["targets", "list", "--factory", dir + "/nothing"], expect: 1)
        #expect(missing.contains("otter-factory init"))
    }

    @Test func rejectsBadTargetInputBeforeSigningAnything() throws {
        try factoryCLI(["init", factory])
        let before = try FileManager.default.contentsOfDirectory(atPath: factory + "/tuf/ci").sorted()
        let badCommit = try factoryCLI(["targets", "add", "--factory", factory, "--version", "1", "--hwid", "x", "--os", "abc"], expect: 1)
        #expect(badCommit.contains("64 hex"))
        let unpinned = try factoryCLI(["targets", "add", "--factory", factory, "--version", "1", "--hwid", "x",
                                       "--os", String(repeating: "a", count: 64), "--app", "web=registry/web:latest"], expect: 64)
        #expect(unpinned.contains("@sha256"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: factory + "/tuf/ci").sorted() == before)
        let notRootfs = try factoryCLI(["os", "publish", "--factory", factory, dir, "--version", "1", "--hwid", "x"], expect: 1)
        #expect(notRootfs.contains("os-release"))
    }

    @Test func offlineKeyIsWrittenOnceAndPrivately() throws {
        let out = try factoryCLI(["keys", "offline", "--out", dir + "/offline.key", "--json"])
        let info = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: String]
        #expect(info["keyid"]?.count == 64)
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/offline.key")[.posixPermissions] as? Int) == 0o600)
        let again = try factoryCLI(["keys", "offline", "--out", dir + "/offline.key"], expect: 1)
        #expect(again.contains("never overwritten"))
    }
}

/// Token scopes as the registry writes them into its challenges.
@Suite struct RegistryScopeTests {
    @Test func scopesParseWithPortsInNamesAndGrantOnlyAllowedActions() throws {
        let scope = try RegistryScope(parsing: "repository:127.0.0.1:5000/images/web:pull,push")
        #expect(scope.type == "repository" && scope.name == "127.0.0.1:5000/images/web" && scope.actions == ["pull", "push"])
        #expect(scope.granting(only: ["pull"]) == RegistryScope(name: "127.0.0.1:5000/images/web", actions: ["pull"]))
        #expect(scope.granting(only: ["delete"]) == nil)
        #expect(scope.text == "repository:127.0.0.1:5000/images/web:pull,push")
        for bad in ["repository", "repository:web", ":web:pull", "repository::pull", "repository:web:"] {
            #expect(throws: FactoryError.self) { try RegistryScope(parsing: bad) }
        }
    }
}
