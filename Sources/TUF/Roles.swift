import OtterCrypto

/// `root.json`: the keys and thresholds of the top-level roles.
public struct Root: SignedRole {
    public static let type = "root"
    public static let roleNames = ["root", "timestamp", "snapshot", "targets"]
    public let common: CommonFields
    public let keys: [String: TUFKey]
    public let roles: [String: RoleKeys]
    public let consistentSnapshot: Bool

    public init(signed: JSONObject, raw: RawValue?, role: String) throws(TUFError) {
        common = try CommonFields(signed, role: role)
        keys = try parseKeys(signed["keys"], context: role)
        guard let rolesJSON = signed["roles"]?.objectValue else {
            throw TUFError(.malformed, "\(role): roles must be an object")
        }
        guard Set(rolesJSON.keys) == Set(Self.roleNames) else {
            throw TUFError(.malformed, "\(role): roles must name exactly root, timestamp, snapshot and targets")
        }
        var roles: [String: RoleKeys] = [:]
        for member in rolesJSON {
            guard let object = member.value.objectValue else {
                throw TUFError(.malformed, "\(role): role \(member.key) is not an object")
            }
            roles[member.key] = try RoleKeys(json: object, context: "\(role) role \(member.key)")
        }
        self.roles = roles
        switch signed["consistent_snapshot"] {
        case nil: consistentSnapshot = false
        case .bool(let b)?: consistentSnapshot = b
        default: throw TUFError(.malformed, "\(role): consistent_snapshot must be a boolean")
        }
    }

    public func keys(for role: String) -> RoleKeys { roles[role]! }
}

/// A `meta` entry (timestamp → snapshot, snapshot → targets roles).
public struct MetaFile: Sendable, Equatable {
    public let version: Int64
    public let length: Int64?
    public let hashes: [String: String]?

    init(json: JSON, context: String) throws(TUFError) {
        guard let object = json.objectValue else { throw TUFError(.malformed, "\(context) is not an object") }
        guard let version = object["version"]?.integerValue, version > 0 else {
            throw TUFError(.malformed, "\(context): version must be a positive integer")
        }
        self.version = version
        switch object["length"] {
        case nil: length = nil
        case .integer(let l)? where l >= 0: length = l
        default: throw TUFError(.malformed, "\(context): length must be a non-negative integer")
        }
        switch object["hashes"] {
        case nil: hashes = nil
        case let value?: hashes = try parseHashes(value, context: context)
        }
    }

    /// TUF §5.5.2 / §5.6.2: when listed, the length must be equal and every hash must match.
    func verify(_ data: [UInt8], role: String) throws(TUFError) {
        if let length, Int64(data.count) != length {
            throw TUFError(.lengthOrHashMismatch, "\(role): \(data.count) bytes, the referring metadata says \(length)")
        }
        if let hashes { try verifyHashes(hashes, of: data, what: role) }
    }
}

func parseHashes(_ value: JSON, context: String) throws(TUFError) -> [String: String] {
    guard let object = value.objectValue, !object.isEmpty else {
        throw TUFError(.malformed, "\(context): hashes must be a non-empty object")
    }
    var hashes: [String: String] = [:]
    for member in object {
        guard let h = member.value.stringValue else { throw TUFError(.malformed, "\(context): hash values must be strings") }
        hashes[member.key] = h
    }
    return hashes
}

/// Every listed hash must match; an algorithm this client cannot compute is a failure, never
/// a skipped check.
func verifyHashes(_ hashes: [String: String], of data: [UInt8], what: String) throws(TUFError) {
    for (name, expected) in hashes.sorted(by: { $0.key < $1.key }) {
        guard let algorithm = DigestAlgorithm(rawValue: name) else {
            throw TUFError(.unsupportedHash, "\(what): hash algorithm \"\(name)\" is not supported (sha256, sha512)")
        }
        let actual = Hex.encode(Digest.hash(data, algorithm))
        guard actual == expected.lowercased() else {
            throw TUFError(.lengthOrHashMismatch, "\(what): \(name) is \(actual), the metadata says \(expected)")
        }
    }
}

public struct TimestampRole: SignedRole {
    public static let type = "timestamp"
    public let common: CommonFields
    public let snapshotMeta: MetaFile

    public init(signed: JSONObject, raw: RawValue?, role: String) throws(TUFError) {
        common = try CommonFields(signed, role: role)
        guard let meta = signed["meta"]?.objectValue, let entry = meta["snapshot.json"] else {
            throw TUFError(.malformed, "\(role): meta must list snapshot.json")
        }
        snapshotMeta = try MetaFile(json: entry, context: "\(role) meta snapshot.json")
    }
}

public struct SnapshotRole: SignedRole {
    public static let type = "snapshot"
    public let common: CommonFields
    public let meta: [String: MetaFile]

    public init(signed: JSONObject, raw: RawValue?, role: String) throws(TUFError) {
        common = try CommonFields(signed, role: role)
        guard let metaJSON = signed["meta"]?.objectValue else {
            throw TUFError(.malformed, "\(role): meta must be an object")
        }
        var meta: [String: MetaFile] = [:]
        for member in metaJSON {
            meta[member.key] = try MetaFile(json: member.value, context: "\(role) meta \(member.key)")
        }
        self.meta = meta
    }
}

/// One artifact listed by a targets role.
public struct TargetFile: Sendable {
    public let path: String
    public let length: Int64
    /// In the order the metadata lists them (consistent-snapshot URLs use the first).
    public let hashes: [(algorithm: String, value: String)]
    public let custom: JSON?
    public let json: JSONObject

    init(path: String, json: JSON, context: String) throws(TUFError) {
        guard let object = json.objectValue else { throw TUFError(.malformed, "\(context): target \(path) is not an object") }
        guard let length = object["length"]?.integerValue, length >= 0 else {
            throw TUFError(.malformed, "\(context): target \(path) needs a non-negative integer length")
        }
        guard let hashesJSON = object["hashes"]?.objectValue, !hashesJSON.isEmpty else {
            throw TUFError(.malformed, "\(context): target \(path) needs a non-empty hashes object")
        }
        var hashes: [(String, String)] = []
        for member in hashesJSON {
            guard let h = member.value.stringValue else {
                throw TUFError(.malformed, "\(context): target \(path) hash values must be strings")
            }
            hashes.append((member.key, h))
        }
        self.path = path
        self.length = length
        self.hashes = hashes
        self.custom = object["custom"]
        self.json = object
    }

    public var hashDictionary: [String: String] {
        var d: [String: String] = [:]
        for (a, v) in hashes { d[a] = v }
        return d
    }

    /// Length first, then every listed hash (TUF-CLIENT-CLI §8.7).
    public func verify(_ data: [UInt8]) throws(TUFError) {
        guard Int64(data.count) == length else {
            throw TUFError(.lengthOrHashMismatch, "target \(path): \(data.count) bytes, metadata says \(length)")
        }
        try verifyHashes(hashDictionary, of: data, what: "target \(path)")
    }
}

public struct DelegatedRole: Sendable {
    public let name: String
    public let keys: RoleKeys
    public let terminating: Bool
    public let paths: [String]?
    public let pathHashPrefixes: [String]?

    init(json: JSON, context: String) throws(TUFError) {
        guard let object = json.objectValue, let name = object["name"]?.stringValue else {
            throw TUFError(.malformed, "\(context): each delegated role needs a string name")
        }
        self.name = name
        keys = try RoleKeys(json: object, context: "\(context) role \(name)")
        guard let terminating = object["terminating"]?.boolValue else {
            throw TUFError(.malformed, "\(context) role \(name): terminating must be a boolean")
        }
        self.terminating = terminating
        func strings(_ key: String) throws(TUFError) -> [String]? {
            guard let value = object[key] else { return nil }
            guard let list = value.arrayValue else { throw TUFError(.malformed, "\(context) role \(name): \(key) must be an array") }
            var out: [String] = []
            for item in list {
                guard let s = item.stringValue else { throw TUFError(.malformed, "\(context) role \(name): \(key) must hold strings") }
                out.append(s)
            }
            return out
        }
        paths = try strings("paths")
        pathHashPrefixes = try strings("path_hash_prefixes")
        guard (paths == nil) != (pathHashPrefixes == nil) else {
            throw TUFError(.malformed, "\(context) role \(name): exactly one of paths and path_hash_prefixes must be set")
        }
    }

    /// TUF §5.6.7.2 / TUF-CLIENT-CLI §8.6.
    public func isDelegated(_ targetPath: String) -> Bool {
        if let paths {
            return paths.contains { PathPattern.matches(pattern: $0, path: targetPath) }
        }
        if let pathHashPrefixes {
            let digest = Hex.encode(Digest.sha256(Array(targetPath.utf8)))
            return pathHashPrefixes.contains { digest.hasPrefix($0) }
        }
        return false
    }
}

public struct Delegations: Sendable {
    public let keys: [String: TUFKey]
    public let roles: [DelegatedRole]

    init(json: JSON, context: String) throws(TUFError) {
        guard let object = json.objectValue else { throw TUFError(.malformed, "\(context): delegations must be an object") }
        keys = try parseKeys(object["keys"], context: "\(context) delegations")
        guard let list = object["roles"]?.arrayValue else {
            throw TUFError(.malformed, "\(context): delegations.roles must be an array")
        }
        var roles: [DelegatedRole] = []
        var names = Set<String>()
        for item in list {
            let role = try DelegatedRole(json: item, context: "\(context) delegations")
            guard !Root.roleNames.contains(role.name) else {
                throw TUFError(.malformed, "\(context): a delegated role may not be called \(role.name)")
            }
            guard names.insert(role.name).inserted else {
                throw TUFError(.malformed, "\(context): delegated role \(role.name) is listed twice")
            }
            roles.append(role)
        }
        self.roles = roles
    }
}

/// `targets.json` or a delegated targets role.
public struct TargetsRole: SignedRole {
    public static let type = "targets"
    /// The `targets` map stays as received bytes plus an index: a 10,000-target file parsed into
    /// a tree would cost several times its size in memory.
    public static let rawMember: String? = "targets"
    public let common: CommonFields
    public let delegations: Delegations?
    private let bytes: [UInt8]
    /// Target paths in UTF-8 order, with the byte range of each entry.
    private let index: [RawJSON.Member]

    public init(signed: JSONObject, raw: RawValue?, role: String) throws(TUFError) {
        common = try CommonFields(signed, role: role)
        guard let raw else { throw TUFError(.malformed, "\(role): targets must be an object") }
        let members: [RawJSON.Member]
        do { members = try RawJSON.members(of: raw.bytes, in: raw.range) } catch {
            throw TUFError(.malformed, "\(role): targets: \(error)")
        }
        // Every entry is parsed strictly now, so a malformed file is refused as a whole.
        let parser = JSONParser()
        for member in members {
            let json: JSON
            do { json = try parser.parse(Array(raw.bytes[member.range])) } catch {
                throw TUFError(.malformed, "\(role): target \(member.key): \(error)")
            }
            _ = try TargetFile(path: member.key, json: json, context: role)
        }
        bytes = raw.bytes
        index = members.sorted { utf8Less($0.key, $1.key) }
        delegations = try signed["delegations"].map { (json) throws(TUFError) in try Delegations(json: json, context: role) }
    }

    public var count: Int { index.count }

    public func target(_ path: String) -> TargetFile? {
        var low = 0, high = index.count
        while low < high {
            let mid = (low + high) / 2
            let order = utf8Compare(index[mid].key, path)
            if order == 0 { return entry(index[mid]) }
            if order < 0 { low = mid + 1 } else { high = mid }
        }
        return nil
    }

    /// Every target, in path order (parsed one by one).
    public var allTargets: [TargetFile] { index.compactMap(entry) }

    private func entry(_ member: RawJSON.Member) -> TargetFile? {
        guard let json = try? JSONParser().parse(Array(bytes[member.range])) else { return nil }
        return try? TargetFile(path: member.key, json: json, context: "targets")
    }
}
