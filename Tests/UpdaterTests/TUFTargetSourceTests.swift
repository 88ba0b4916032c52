import Foundation
import TUF
import Testing
import TestSupport
@testable import Updater

@Suite struct TUFTargetSourceTests {
    /// A signed TUF repository with LmP-style targets, served over loopback HTTP: the Targets come
    /// out verified and parsed, newest first for this device.
    @Test func targetsComeFromVerifiedMetadataOverHTTP() async throws {
        let tmp = TempDir("otter-tuf")
        let repository = try TUFRepository()
        let targets = [target(41, os: 1, apps: [app("web", 1)]), target(42, os: 2, apps: [app("web", 2)]),
                       target(43, os: 3, apps: [], hardwareId: "other")]
        for t in targets {
            let entry = try JSONParser().parse(Array(entryJSON(t).utf8)).objectValue!
            repository.setTargetEntry(t.name, entry)
        }
        try repository.publishAll(root: true)
        try repository.write(to: tmp.path + "/repo")
        let store = tmp.sub("tuf")
        try Data(repository.metadata["1.root.json"]!).write(to: URL(fileURLWithPath: store + "/root.json"))
        let server = try FileServer(directory: tmp.path + "/repo")
        defer { server.stop() }
        let base = server.url
        let source = TUFTargetSource {
            TUFClient(configuration: TUFClientConfiguration(metadataBaseURL: base + "/metadata/", targetBaseURL: base + "/targets/"),
                      transport: HTTPTransport(), store: DirectoryStore(path: store))
        }
        let (parsed, rejected) = TargetSelection.parse(try await source.targetFiles())
        #expect(rejected.isEmpty)
        #expect(TargetSelection(hardwareId: "otter-x86", tags: ["main"]).candidates(parsed) == [targets[1], targets[0]])
        #expect(FileManager.default.fileExists(atPath: store + "/timestamp.json"), "the trusted store was updated")
    }
}
