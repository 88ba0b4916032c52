import FoundationEssentials
import TUF

/// One compose app of a Target: its name (the `docker_compose_apps` key, also the compose
/// project name) and its digest-pinned URI.
public struct AppRef: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var name: String
    /// `registry/repo/<name>@sha256:<app manifest digest>`.
    public var uri: String

    public init(name: String, uri: String) {
        self.name = name
        self.uri = uri
    }

    public static func < (a: AppRef, b: AppRef) -> Bool { (a.name, a.uri) < (b.name, b.uri) }

    public var description: String { "\(name) (\(uri))" }
}

/// What a device installs as a whole: an OSTree commit and a set of compose apps, read from a
/// TUF target's `custom` object (REFERENCE.md §1, the LmP/aktualizr-lite field names).
public struct Target: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The TUF target path, e.g. `intel-corei7-64-lmp-42`.
    public var name: String
    /// `custom.version`, e.g. `"42"`.
    public var version: String
    /// `hashes.sha256`: the OSTree commit checksum.
    public var osCommit: String
    public var hardwareIds: [String]
    public var tags: [String]
    public var targetFormat: String
    /// `custom.uri` (informational: a CI build URL in LmP fleets).
    public var uri: String?
    /// Sorted by name.
    public var apps: [AppRef]
    /// `custom["otter-ignore-windows"]`: installed outside the device's update windows (a wave
    /// rolled out with `--now`). Nil when the Target does not say.
    public var ignoresWindows: Bool?

    public init(name: String, version: String, osCommit: String, hardwareIds: [String], tags: [String] = [],
                targetFormat: String = "OSTREE", uri: String? = nil, apps: [AppRef] = [], ignoresWindows: Bool? = nil) {
        self.ignoresWindows = ignoresWindows
        self.name = name
        self.version = version
        self.osCommit = osCommit
        self.hardwareIds = hardwareIds
        self.tags = tags
        self.targetFormat = targetFormat
        self.uri = uri
        self.apps = apps.sorted()
    }

    public var description: String { "\(name) (version \(version))" }

    /// Reads a verified TUF target. Malformed or unsupported `custom` fields are refused, naming
    /// the target and the field.
    public init(_ file: TargetFile) throws(TargetError) {
        let name = file.path
        func fail(_ detail: String) -> TargetError { TargetError(target: name, detail: detail) }
        guard let commit = file.hashDictionary["sha256"] else {
            throw fail("has no sha256 hash (the OSTree commit checksum)")
        }
        guard Self.isChecksum(commit) else {
            throw fail("sha256 \"\(commit)\" is not a 64-character lowercase hex OSTree commit checksum")
        }
        guard let custom = file.custom?.objectValue else {
            throw fail("has no custom object; an Otter Target needs custom.version and custom.hardwareIds")
        }
        let version: String
        switch custom["version"] {
        case .string(let text)? where !text.isEmpty: version = text
        case .integer(let number)?: version = String(number)
        case nil: throw fail("custom.version is missing")
        default: throw fail("custom.version must be a non-empty string such as \"42\"")
        }
        func strings(_ key: String, required: Bool) throws(TargetError) -> [String] {
            guard let value = custom[key] else {
                if required { throw fail("custom.\(key) is missing") }
                return []
            }
            guard let array = value.arrayValue else { throw fail("custom.\(key) must be an array of strings") }
            var out: [String] = []
            for item in array {
                guard let text = item.stringValue else { throw fail("custom.\(key) must be an array of strings") }
                out.append(text)
            }
            return out
        }
        let hardwareIds = try strings("hardwareIds", required: true)
        guard !hardwareIds.isEmpty else { throw fail("custom.hardwareIds is empty; no device could install it") }
        let tags = try strings("tags", required: false)
        var format = "OSTREE"
        if let value = custom["targetFormat"] {
            guard let text = value.stringValue else { throw fail("custom.targetFormat must be a string") }
            format = text
        }
        guard format == "OSTREE" else {
            throw fail("custom.targetFormat is \"\(format)\"; Otter installs only OSTREE targets")
        }
        var uri: String?
        if let value = custom["uri"], value != .null {
            guard let text = value.stringValue else { throw fail("custom.uri must be a string") }
            uri = text
        }
        var apps: [AppRef] = []
        if let value = custom["docker_compose_apps"], value != .null {
            guard let object = value.objectValue else {
                throw fail("custom.docker_compose_apps must be an object {\"<app>\": {\"uri\": \"…@sha256:…\"}}")
            }
            for member in object {
                guard let appURI = member.value["uri"]?.stringValue else {
                    throw fail("app \(member.key) in custom.docker_compose_apps has no uri string")
                }
                try Self.checkAppURI(appURI, app: member.key, fail: fail)
                apps.append(AppRef(name: member.key, uri: appURI))
            }
        }
        var ignoresWindows: Bool?
        if let value = custom["otter-ignore-windows"], value != .null {
            guard case .bool(let flag) = value else { throw fail("custom.otter-ignore-windows must be true or false") }
            ignoresWindows = flag
        }
        self.init(name: name, version: version, osCommit: commit, hardwareIds: hardwareIds, tags: tags,
                  targetFormat: format, uri: uri, apps: apps, ignoresWindows: ignoresWindows)
    }

    static func isChecksum(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The URI pins the app by digest, and its last path component is the app's name, as fioup
    /// requires (`pkg/target`), so a Target cannot run one app under another's name.
    private static func checkAppURI(_ uri: String, app: String, fail: (String) -> TargetError) throws(TargetError) {
        let parts = uri.split(separator: "@", maxSplits: 1)
        guard parts.count == 2, parts[1].hasPrefix("sha256:"), isChecksum(String(parts[1].dropFirst(7))) else {
            throw fail("app \(app): uri \"\(uri)\" is not pinned by digest (expected registry/repo/\(app)@sha256:<64 hex>)")
        }
        guard let last = parts[0].split(separator: "/").last, last == app else {
            throw fail("app \(app): uri \"\(uri)\" names a different app; the repository's last component must be \"\(app)\"")
        }
    }
}

public struct TargetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var target: String
    public var detail: String

    public init(target: String, detail: String) {
        self.target = target
        self.detail = detail
    }

    public var description: String { "target \(target) \(detail)" }
}

/// Versions compare as numbers when both are integers (LmP build numbers), otherwise piecewise
/// like `strverscmp` (aktualizr-lite): runs of digits numerically, other runs by code point.
public enum TargetVersion {
    public static func compare(_ a: String, _ b: String) -> Int {
        if let x = UInt64(a), let y = UInt64(b) { return x < y ? -1 : (x > y ? 1 : 0) }
        let left = pieces(a), right = pieces(b)
        for (l, r) in zip(left, right) where l != r {
            switch (UInt64(l), UInt64(r)) {
            case let (x?, y?): if x != y { return x < y ? -1 : 1 }
            case (_?, nil): return -1
            case (nil, _?): return 1
            case (nil, nil): return l < r ? -1 : 1
            }
        }
        return left.count < right.count ? -1 : (left.count > right.count ? 1 : 0)
    }

    private static func pieces(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        var digits: Bool?
        for ch in text {
            let isDigit = ch.isASCII && ch.isNumber
            if digits != nil, digits != isDigit {
                out.append(current)
                current = ""
            }
            digits = isDigit
            current.append(ch)
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}

/// Which Targets this device considers: its hardware id must be in `hardwareIds`, and one of its
/// tags in `tags` (no tags configured: every Target matches, as in aktualizr-lite).
public struct TargetSelection: Sendable {
    public var hardwareId: String
    public var tags: [String]

    public init(hardwareId: String, tags: [String] = []) {
        self.hardwareId = hardwareId
        self.tags = tags
    }

    public func matches(_ target: Target) -> Bool {
        target.hardwareIds.contains(hardwareId) && (tags.isEmpty || target.tags.contains(where: tags.contains))
    }

    /// Parses every TUF target; those that are not valid Otter Targets are returned with why.
    public static func parse(_ files: [TargetFile]) -> (targets: [Target], rejected: [TargetError]) {
        var targets: [Target] = []
        var rejected: [TargetError] = []
        for file in files {
            do { targets.append(try Target(file)) } catch { rejected.append(error) }
        }
        return (targets, rejected)
    }

    /// The matching Targets, newest first (ties: by name, for a stable order).
    public func candidates(_ targets: [Target]) -> [Target] {
        targets.filter(matches).sorted {
            let order = TargetVersion.compare($0.version, $1.version)
            return order != 0 ? order > 0 : $0.name > $1.name
        }
    }

    /// The newest matching Target not marked bad.
    public func newest(_ targets: [Target], bad: Set<String>) -> Target? {
        candidates(targets).first { !bad.contains($0.name) }
    }

    /// An explicit choice (`otter update --force 42`): the matching Target of that version, bad
    /// or not.
    public func choose(version: String, from targets: [Target]) throws(TargetError) -> Target {
        let matching = candidates(targets)
        if let hit = matching.first(where: { $0.version == version }) { return hit }
        let known = matching.map(\.version).joined(separator: ", ")
        throw TargetError(target: "version \(version)",
                          detail: "is not among the Targets for hardware id \(hardwareId)\(tags.isEmpty ? "" : " and tags \(tags.joined(separator: ","))")"
                              + (known.isEmpty ? " (none match)" : " (available: \(known))") + "; run `otter check` to list them")
    }
}
