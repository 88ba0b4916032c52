import Foundation
import Testing
import TestSupport

/// The device binary carries no full Foundation (nor its ICU data, ~30 MB on disk, several MB of
/// resident memory): product code imports FoundationEssentials, and no dependency of `otter` may
/// bring Foundation back (GRDB, TOMLKit and Yams did; see issue #6's idle RSS figure).
@Suite struct DeviceBinaryLinkTests {
    /// Foundation's own libraries and its ICU. (The system's libicuuc may appear: libarchive's
    /// libxml2 links it, mapped on demand; Foundation's lib_FoundationICU is what costs memory.)
    static let forbidden = ["libFoundation.so", "libFoundationNetworking.so", "libFoundationXML.so",
                            "libFoundationInternationalization.so", "lib_FoundationICU.so"]

    /// The `otter` next to the tests, and the release one when it has been built.
    static var binaries: [String] {
        let built = builtProduct("otter")
        let buildDirectory = URL(fileURLWithPath: built).deletingLastPathComponent().deletingLastPathComponent()
        let release = buildDirectory.appendingPathComponent("release/otter").path
        return [built] + (FileManager.default.isExecutableFile(atPath: release) && release != built ? [release] : [])
    }

    @Test(arguments: binaries) func otterLinksNoFullFoundationNorICU(binary: String) throws {
        let ldd = try runProcess("/usr/bin/ldd", [binary])
        #expect(ldd.status == 0, "ldd \(binary): \(ldd.err)")
        let libraries = ldd.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(libraries.contains { $0.hasPrefix("libFoundationEssentials.so") || $0.hasPrefix("libswiftCore.so") }
                || libraries.contains { $0.contains("libc.so") }, "ldd printed no libraries for \(binary): \(ldd.out)")
        let offending = libraries.filter { line in Self.forbidden.contains { line.hasPrefix($0) } }
        #expect(offending.isEmpty, "\(binary) links \(offending.joined(separator: ", ")): a dependency imports Foundation")
    }
}
