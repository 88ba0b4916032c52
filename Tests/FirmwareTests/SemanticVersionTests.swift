import Testing
@testable import Firmware

@Suite struct SemanticVersionTests {
    @Test func newestReleaseIgnoresPreReleasesAndOtherTags() {
        let tags = ["0.9.0", "0.10.0", "0.10.0-rc1", "v1.0.0", "latest", "sha256-\(String(repeating: "a", count: 64)).sig"]
        #expect(SemanticVersion.newest(in: tags)?.tag == "v1.0.0")
        #expect(SemanticVersion.newest(in: ["0.9.0", "0.10.0", "0.10.0-rc1"])?.tag == "0.10.0")
        #expect(SemanticVersion.newest(in: ["0.9.0", "0.10.0-rc1"])?.tag == "0.9.0")
        #expect(SemanticVersion.newest(in: ["latest", "1.0", "main"]) == nil)
    }

    @Test func preReleasesCountOnlyWhenEnabled() {
        let tags = ["0.9.0", "0.10.0", "0.11.0-rc.1", "0.11.0-beta.2"]
        #expect(SemanticVersion.newest(in: tags)?.tag == "0.10.0")
        #expect(SemanticVersion.newest(in: tags, includingPreReleases: true)?.tag == "0.11.0-rc.1")
    }

    /// The precedence chain of semver 2.0.0 §11, shuffled.
    @Test func ordersAsTheSemverSpecification() {
        let chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                     "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"]
        let versions = chain.reversed().compactMap(SemanticVersion.init(tag:))
        #expect(versions.count == chain.count)
        #expect(versions.sorted().map(\.tag) == chain)
        #expect(SemanticVersion(tag: "v1.6.2") == SemanticVersion(tag: "1.6.2+build.7"))
    }

    @Test func rejectsTagsThatAreNotVersions() {
        for tag in ["1.0", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+", "v", "1.0.0-rc..1", "1.0.x", "-1.0.0", "1.0.0-rc_1"] {
            #expect(SemanticVersion(tag: tag) == nil, "\(tag)")
        }
        #expect(SemanticVersion(tag: "1.0.0-rc-1.x")?.preRelease == ["rc-1", "x"])
    }
}

@Suite struct ByteRangeTests {
    @Test func parsesSingleRanges() {
        #expect(ByteRange(header: "bytes=0-99", size: 1000) == .part(0..<100))
        #expect(ByteRange(header: "bytes=900-", size: 1000) == .part(900..<1000))
        #expect(ByteRange(header: "bytes=900-5000", size: 1000) == .part(900..<1000))
        #expect(ByteRange(header: "bytes=-10", size: 1000) == .part(990..<1000))
        #expect(ByteRange(header: "bytes=-5000", size: 1000) == .part(0..<1000))
    }

    @Test func unsatisfiableAndIgnoredRanges() {
        #expect(ByteRange(header: "bytes=1000-", size: 1000) == .unsatisfiable)
        #expect(ByteRange(header: "bytes=-0", size: 1000) == .unsatisfiable)
        #expect(ByteRange(header: "bytes=5-2", size: 1000) == .whole)
        #expect(ByteRange(header: "bytes=0-1,5-6", size: 1000) == .whole)
        #expect(ByteRange(header: "items=0-1", size: 1000) == .whole)
        #expect(ByteRange(header: "bytes=abc", size: 1000) == .whole)
    }

    @Test func deviceIDsAreRepositoryComponents() {
        for id in ["esp32-7", "stm32.f4", "a", "node_1"] { #expect(FirmwareRegistry.isValidDeviceID(id), "\(id)") }
        for id in ["", "ESP32", "-a", "a-", "a--b", "a/b", "a b", String(repeating: "a", count: 129)] {
            #expect(!FirmwareRegistry.isValidDeviceID(id), "\(id)")
        }
    }
}
