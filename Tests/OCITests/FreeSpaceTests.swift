import Foundation
import OCI
import Testing
import TestSupport

/// The free-space check before a fetch, on a real small file system (a 4 MiB tmpfs).
@Suite struct FreeSpaceTests {
    @Test func failsEarlyNamingTheVolumeWhenBlobsPlusReserveDoNotFit() throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("otter-space-\(UUID())").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(try runProcess("/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]).status == 0)
        defer {
            _ = try? runProcess("/usr/bin/env", ["umount", mountPoint])
            try? FileManager.default.removeItem(atPath: mountPoint)
        }
        let store = try BlobStore(root: mountPoint + "/store")
        let big = Descriptor(mediaType: "application/octet-stream", digest: .sha256(of: Array("big".utf8)), size: 3_000_000)
        let small = Descriptor(mediaType: "application/octet-stream", digest: .sha256(of: Array("small".utf8)), size: 500_000)

        let fits = try store.requireSpace(for: [small, small], reserveBytes: 1_000_000)
        #expect(fits.neededBytes == 1_500_000, "a digest listed twice counts once")
        #expect(fits.availableBytes > 3_000_000 && fits.availableBytes <= 4 * 1_048_576)

        #expect(try store.spaceCheck(for: [big], reserveBytes: 0).fits)
        let error = #expect(throws: OCIError.self) { try store.requireSpace(for: [big, small], reserveBytes: 1_000_000) }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains(mountPoint + "/store"))
        #expect(message.contains("4500000 bytes needed"))
        #expect(message.contains("nothing was downloaded"))
        // Nothing was written by the check.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: mountPoint + "/store/ingest")) ?? []).isEmpty)
    }
}
