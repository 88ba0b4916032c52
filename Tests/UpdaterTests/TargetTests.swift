import Testing
import TUF
@testable import Updater

@Suite struct TargetTests {
    @Test func parsesLmPCustomFields() throws {
        let t = target(42, os: 4, apps: [app("shellhttpd", 1), app("mqtt", 2)])
        let files = try targetsMetadata([(t.name, entryJSON(t))])
        let parsed = try Target(files[0])
        #expect(parsed == t)
        #expect(parsed.apps.map(\.name) == ["mqtt", "shellhttpd"])
    }

    @Test(arguments: [
        (#"{"hashes":{"sha512":"00"},"length":0,"custom":{"version":"1","hardwareIds":["h"]}}"#, "no sha256"),
        (#"{"hashes":{"sha256":"abc"},"length":0,"custom":{"version":"1","hardwareIds":["h"]}}"#, "not a 64-character"),
        (#"{"hashes":{"sha256":"SHA"},"length":0}"#, "not a 64-character"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0}"#, "has no custom object"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"hardwareIds":["h"]}}"#, "custom.version is missing"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":true,"hardwareIds":["h"]}}"#, "custom.version must be"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":"1","hardwareIds":"h"}}"#, "custom.hardwareIds must be an array"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":"1","hardwareIds":[]}}"#, "custom.hardwareIds is empty"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":"1","hardwareIds":["h"],"targetFormat":"BINARY"}}"#, "Otter installs only OSTREE"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":"1","hardwareIds":["h"],"docker_compose_apps":[]}}"#, "must be an object"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":"1","hardwareIds":["h"],"docker_compose_apps":{"a":{}}}}"#, "has no uri"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":"1","hardwareIds":["h"],"docker_compose_apps":{"a":{"uri":"r/f/a:latest"}}}}"#, "not pinned by digest"),
        (#"{"hashes":{"sha256":"CSUM"},"length":0,"custom":{"version":"1","hardwareIds":["h"],"docker_compose_apps":{"a":{"uri":"r/f/b@sha256:DIGEST"}}}}"#, "names a different app"),
    ])
    func refusesMalformedCustomNamingTheField(json: String, expected: String) throws {
        let text = json.replacingOccurrences(of: "CSUM", with: commit(3)).replacingOccurrences(of: "DIGEST", with: commit(5))
        let files = try targetsMetadata([("bad-1", text)])
        let error = #expect(throws: TargetError.self) { try Target(files[0]) }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
        #expect(error?.description.hasPrefix("target bad-1") == true)
    }

    @Test func versionsCompareNumericallyThenPiecewise() {
        #expect(TargetVersion.compare("9", "10") < 0)
        #expect(TargetVersion.compare("100", "99") > 0)
        #expect(TargetVersion.compare("42", "42") == 0)
        #expect(TargetVersion.compare("1.9.2", "1.10.0") < 0)
        #expect(TargetVersion.compare("2024.10-rc1", "2024.9") > 0)
        #expect(TargetVersion.compare("v2", "v10") < 0)
    }

    @Test func selectionKeepsThisDevicesHardwareAndTagNewestFirst() {
        let all = [
            target(9, os: 1, apps: []), target(10, os: 2, apps: []), target(11, os: 3, apps: [], tags: ["devel"]),
            target(12, os: 4, apps: [], hardwareId: "other-board"), target(8, os: 5, apps: [], tags: ["devel", "main"]),
        ]
        let selection = TargetSelection(hardwareId: "otter-x86", tags: ["main"])
        #expect(selection.candidates(all).map(\.version) == ["10", "9", "8"])
        #expect(selection.newest(all, bad: [])?.version == "10")
        #expect(selection.newest(all, bad: ["otter-x86-lmp-10"])?.version == "9")
        #expect(TargetSelection(hardwareId: "otter-x86").candidates(all).map(\.version) == ["11", "10", "9", "8"])
    }

    @Test func explicitVersionIsChosenEvenWhenNotNewestAndUnknownOnesAreNamed() throws {
        let all = [target(9, os: 1, apps: []), target(10, os: 2, apps: [])]
        let selection = TargetSelection(hardwareId: "otter-x86", tags: ["main"])
        #expect(try selection.choose(version: "9", from: all).version == "9")
        let error = #expect(throws: TargetError.self) { try selection.choose(version: "7", from: all) }
        #expect(error?.description.contains("available: 10, 9") == true)
    }

    @Test func parseSeparatesRejectedTargets() throws {
        let good = target(3, os: 3, apps: [])
        let files = try targetsMetadata([(good.name, entryJSON(good)), ("broken", #"{"hashes":{"sha256":"00"},"length":0}"#)])
        let (targets, rejected) = TargetSelection.parse(files)
        #expect(targets == [good])
        #expect(rejected.map(\.target) == ["broken"])
    }
}
