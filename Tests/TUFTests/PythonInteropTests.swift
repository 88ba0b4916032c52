import Foundation
import Testing
import TUF

/// Interoperability with python-tuf (PyPI `tuf`), the reference implementation, both ways.
@Suite(.serialized) struct PythonInteropTests {
    static let interop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Interop").path

    func python(_ script: String, _ arguments: [String]) throws -> Int32 {
        try run("/usr/bin/env", ["python3", Self.interop + "/" + script] + arguments).status
    }

    @Test func readsARepositoryWrittenByPythonTUF() async throws {
        let dir = try temporaryDirectory()
        #expect(try python("python_repository.py", [dir + "/repo"]) == 0)
        let server = try LocalServer()
        defer { server.stop() }
        server.serveDirectory(dir + "/repo")
        let metadata = try DirectoryStore.creating(path: dir + "/metadata")
        let artifacts = try DirectoryStore.creating(path: dir + "/targets")
        try metadata.write("root.json", Array(FileManager.default.contents(atPath: dir + "/repo/metadata/1.root.json")!))
        let client = TUFClient(configuration: TUFClientConfiguration(metadataBaseURL: server.metadataURL, targetBaseURL: server.targetsURL),
                               transport: HTTPTransport(), store: metadata)
        try await client.refresh()
        #expect(client.root?.signed.version == 2)
        for name in ["file.txt", "dir/nested.bin", "delegated/artifact"] {
            let target = try await client.target(name)
            #expect(try await client.download(target, into: artifacts))
        }
        #expect(artifacts.read("file.txt") == Array("hello from python-tuf\n".utf8))
        #expect(artifacts.read("delegated%2Fartifact") == Array("delegated payload".utf8))
        let custom = try await client.target("file.txt").custom
        #expect(custom?["version"]?.stringValue == "7")
        #expect(custom?["cliUploaded"]?.boolValue == false)
        #expect(metadata.read("delegated.json") != nil)
    }

    /// A repository made by `TUFRepository` with every key type, a delegation, a root rotation
    /// and custom fields, which python-tuf's ngclient must accept — and refuse once tampered.
    @Test func writesARepositoryPythonTUFAccepts() async throws {
        let repository = try TUFRepository(keys: [
            "root": [try .generate(.ed25519)], "timestamp": [try .generate(.ecdsa)],
            "snapshot": [try .generate(.ed25519)], "targets": [try .generate(.rsa)],
        ])
        repository.listHashesInSnapshot = true
        repository.listHashesInTimestamp = true
        repository.addTarget("intel-corei7-64-lmp-42", content: Array("os".utf8), custom: .object(JSONObject([
            "version": .string("42"), "hardwareIds": .array([.string("intel-corei7-64")]), "targetFormat": .string("OSTREE"),
        ])))
        let delegatedKey = try TUFSigningKey.generate(.ecdsa)
        repository.delegate(from: "targets", to: "apps", keys: [delegatedKey], paths: ["apps/*"])
        repository.addTarget("apps/shellhttpd.tgz", content: Array("app bundle".utf8), role: "apps")
        try repository.publishAll(root: true)
        let firstRoot = repository.metadata["1.root.json"]!
        let oldRootKeys = repository.signers["root"]!
        repository.rotateKeys(of: "root", to: [try .generate(.ecdsa)])
        repository.bumpVersion("root")
        try repository.publishRoot(alsoSignedBy: oldRootKeys)

        let dir = try temporaryDirectory()
        try repository.write(to: dir + "/repo")
        let server = try LocalServer()
        defer { server.stop() }
        server.serveDirectory(dir + "/repo")
        func pythonClient(_ tag: String) throws -> Int32 {
            let metadataDir = dir + "/py-metadata-" + tag
            try FileManager.default.createDirectory(atPath: metadataDir, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/py-targets-" + tag, withIntermediateDirectories: true)
            try Data(firstRoot).write(to: URL(fileURLWithPath: metadataDir + "/root.json"))
            return try python("python_client.py", [server.metadataURL, server.targetsURL, metadataDir, dir + "/py-targets-" + tag,
                                                   "intel-corei7-64-lmp-42", "apps/shellhttpd.tgz"])
        }
        #expect(try pythonClient("good") == 0)
        #expect(FileManager.default.contents(atPath: dir + "/py-targets-good/apps%2Fshellhttpd.tgz") == Data("app bundle".utf8))

        // The same check fails once the delegated metadata is altered: the test can fail.
        let name = "/repo/metadata/1.apps.json"
        let tampered = String(decoding: repository.metadata["1.apps.json"]!, as: UTF8.self)
            .replacingOccurrences(of: "\"length\":10", with: "\"length\":11")
        server.set(name, Array(tampered.utf8))
        #expect(try pythonClient("tampered") != 0)
    }
}
