import FoundationEssentials
import Glibc
import OCI
import OtterCrypto

/// A verified firmware release: what `/version` tells a device and what the cache remembers.
public struct FirmwareRelease: Codable, Sendable, Equatable {
    public var device: String
    /// The tag as pushed (`1.6.2` or `v1.6.2`).
    public var version: String
    public var manifestDigest: OCIDigest
    public var layerDigest: OCIDigest
    public var mediaType: String
    public var size: Int64
    /// CRC-32 (zlib's) of the binary.
    public var crc32: UInt32
}

/// The on-disk cache: per device `devices/<id>/firmware.bin` and `firmware.json`, each written
/// to a temporary name and renamed over the old one, so a reader sees an old or a new file,
/// never half of one; downloads go through a `BlobStore` (`blobs/`, `ingest/`) that checks the
/// digest before anything reaches a device directory. A binary that does not match its metadata
/// (a crash between the two renames, a disk fault) is not loaded: the device is fetched again.
final class FirmwareCache: Sendable {
    let root: String
    let blobs: BlobStore

    init(root: String) throws {
        self.root = root
        blobs = try BlobStore(root: root + "/store")
        try FileManager.default.createDirectory(atPath: root + "/devices", withIntermediateDirectories: true)
    }

    func directory(of device: String) -> String { "\(root)/devices/\(device)" }

    /// The devices with a cache directory (polled from the start).
    func devices() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/devices")) ?? [])
            .filter { FirmwareRegistry.isValidDeviceID($0) }.sorted()
    }

    /// Whether the cache directory can be read and written (what `/health` checks).
    var isUsable: Bool { access(root + "/devices", R_OK | W_OK | X_OK) == 0 }

    /// The cached release and its bytes, checked against each other; nil when there is none or
    /// they disagree.
    func load(_ device: String) -> (release: FirmwareRelease, binary: [UInt8])? {
        let directory = directory(of: device)
        guard let metadata = FileManager.default.contents(atPath: directory + "/firmware.json"),
              let release = try? JSONDecoder().decode(FirmwareRelease.self, from: metadata),
              release.device == device,
              let data = FileManager.default.contents(atPath: directory + "/firmware.bin") else { return nil }
        let binary = [UInt8](data)
        guard Int64(binary.count) == release.size, release.layerDigest.matches(binary) else { return nil }
        return (release, binary)
    }

    /// Links the verified blob of `release` from the store into the device's directory, then
    /// writes the metadata: the rename of `firmware.json` is the commit point. The store's copy
    /// goes afterwards (two devices may share a binary; the later one downloads it again).
    func commit(_ release: FirmwareRelease) throws {
        let directory = directory(of: release.device)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let blob = blobs.path(of: release.layerDigest)
        let binary = directory + "/firmware.bin.tmp"
        unlink(binary)
        guard link(blob, binary) == 0 else {
            throw FirmwareError.invalid("cannot link \(blob) to \(binary): \(String(cString: strerror(errno))); check the firmware cache directory")
        }
        try Self.rename(binary, to: directory + "/firmware.bin")
        try? blobs.remove(release.layerDigest)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let temporary = directory + "/firmware.json.tmp"
        try Data(try encoder.encode(release)).write(to: URL(fileURLWithPath: temporary))
        try Self.rename(temporary, to: directory + "/firmware.json")
    }

    static func rename(_ from: String, to destination: String) throws {
        guard Glibc.rename(from, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            throw FirmwareError.invalid("cannot rename \(from) to \(destination): \(reason); check the firmware cache directory's permissions and free space")
        }
    }
}
