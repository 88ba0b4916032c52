import ArgumentParser
import TUF
import Updater

/// `otter tuf …`: the device's trusted TUF metadata, until the update coordinator drives it.
public struct TUFCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tuf",
        abstract: "Inspect and refresh the device's trusted TUF metadata.",
        subcommands: [Refresh.self])

    public init() {}

    public struct Refresh: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "refresh",
            abstract: "Refresh trusted metadata from a repository and list the verified Targets.",
            discussion: """
            Trusted metadata lives in <sysroot>/var/lib/otter/tuf. On first use it is seeded with the \
            root shipped in the image, <sysroot>/usr/lib/otter/tuf/root.json. Every file is checked \
            (signatures, versions, expiry, hashes) before it replaces the trusted copy; a failed \
            refresh leaves the trusted copy of the failing role as it was.

            Exit status: 0 when the metadata is current and verified, 1 otherwise.
            """)

        @Option(help: "Root of the device file system to work on.")
        public var sysroot: String = "/"

        @Option(help: "Base URL of the TUF metadata (the directory holding timestamp.json).")
        public var repo: String

        @Flag(help: "Print the Targets as JSON.")
        public var json = false

        public init() {}

        public func validate() throws {
            guard repo.hasPrefix("http://") || repo.hasPrefix("https://") || repo.hasPrefix("file://") else {
                throw ValidationError("--repo must be an http://, https:// or file:// URL, got \(repo)")
            }
        }

        public func run() async throws {
            let base = sysroot.hasSuffix("/") ? String(sysroot.dropLast()) : sysroot
            let feed = TargetFeed(trustedDirectory: base + "/var/lib/otter/tuf", shippedRootDirectory: base + "/usr/lib/otter/tuf",
                                  metadataURL: repo)
            do {
                let targets = try await feed.refresh()
                let root = DirectoryStore(path: feed.trustedDirectory).read("root.json")
                    .flatMap { try? Metadata<Root>.parse($0, role: "root").signed.common.version } ?? 0
                print(json ? Self.jsonListing(targets) : Self.humanListing(targets, root: root))
            } catch {
                printError("otter tuf refresh: \(error.message)\nThe trusted metadata in \(feed.trustedDirectory) keeps its last verified state; check --repo and the device clock, then retry.")
                throw ExitCode.failure
            }
        }

        static func humanListing(_ targets: [TargetFile], root: Int64) -> String {
            var lines = ["Verified \(targets.count) Target(s) (trusted root v\(root)):"]
            for target in targets {
                let version = target.custom?["version"]?.stringValue ?? "-"
                let hardware = target.custom?["hardwareIds"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? "-"
                let tags = target.custom?["tags"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? "-"
                lines.append("  \(target.path)  version \(version)  hardware \(hardware)  tags \(tags)")
            }
            return lines.joined(separator: "\n")
        }

        static func jsonListing(_ targets: [TargetFile]) -> String {
            let list: [JSON] = targets.map { target in
                var entry = JSONObject(["name": .string(target.path), "length": .integer(target.length)])
                entry["hashes"] = .object(JSONObject(unsorted: target.hashes.map { .init(key: $0.algorithm, value: .string($0.value)) }) ?? JSONObject())
                if let custom = target.custom { entry["custom"] = custom }
                return .object(entry)
            }
            return String(decoding: JSONWriter.compact(.object(JSONObject(["targets": .array(list)]))), as: UTF8.self)
        }
    }
}

