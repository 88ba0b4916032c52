import OtterCrypto

/// The repository side: builds, signs and publishes TUF metadata. Used by tests to make
/// repositories (honest and hostile), by the benchmark, and later by `otter-factory`.
///
/// Each role's `signed` object is plain JSON in `signed[role]`, so callers may bend it in any
/// way; `publish…` signs the current state with `signers[role]` and stores the files under the
/// names a client requests (`metadata[...]`, `artifacts[...]`).
public final class TUFRepository {
    public var signed: [String: JSONObject] = [:]
    public var signers: [String: [TUFSigningKey]] = [:]
    /// Published metadata, by file name relative to the metadata base URL.
    public var metadata: [String: [UInt8]] = [:]
    /// Published artifacts, by path relative to the target base URL.
    public var artifacts: [String: [UInt8]] = [:]
    /// Whether snapshot (timestamp) lists lengths and hashes of the files it names.
    public var listHashesInSnapshot = false
    public var listHashesInTimestamp = false
    public let expires: Timestamp

    /// A fresh repository, version 1 of every top-level role, one key per role unless `keys`
    /// says otherwise (threshold 1).
    public init(keyType: TUFSigningKey.KeyType = .ed25519, consistentSnapshot: Bool = true,
                expires: Timestamp = SystemClock().now().adding(seconds: 365 * 86400),
                keys: [String: [TUFSigningKey]] = [:]) throws {
        self.expires = expires
        for role in Root.roleNames {
            signers[role] = try keys[role] ?? [TUFSigningKey.generate(keyType)]
        }
        var keysJSON = JSONObject()
        var rolesJSON = JSONObject()
        for role in Root.roleNames {
            for key in signers[role]! { keysJSON[key.keyid] = .object(key.publicKey.json) }
            rolesJSON[role] = .object(Self.roleJSON(signers[role]!.map(\.keyid), threshold: 1))
        }
        var root = Self.common("root", expires: expires)
        root["keys"] = .object(keysJSON)
        root["roles"] = .object(rolesJSON)
        root["consistent_snapshot"] = .bool(consistentSnapshot)
        signed["root"] = root
        var targets = Self.common("targets", expires: expires)
        targets["targets"] = .object(JSONObject())
        signed["targets"] = targets
        var snapshot = Self.common("snapshot", expires: expires)
        snapshot["meta"] = .object(JSONObject())
        signed["snapshot"] = snapshot
        var timestamp = Self.common("timestamp", expires: expires)
        timestamp["meta"] = .object(JSONObject())
        signed["timestamp"] = timestamp
    }

    /// A repository that already exists: the `signed` part of each top-level role as last
    /// published, and the keys that sign each role. `expires` is the default for new versions.
    public init(signed: [String: JSONObject], signers: [String: [TUFSigningKey]], expires: Timestamp) {
        self.signed = signed
        self.signers = signers
        self.expires = expires
    }

    static func common(_ type: String, expires: Timestamp) -> JSONObject {
        JSONObject(["_type": .string(type), "spec_version": .string("1.0.31"), "version": .integer(1),
                    "expires": .string(expires.tufExpires)])
    }

    static func roleJSON(_ keyids: [String], threshold: Int) -> JSONObject {
        JSONObject(["keyids": .array(keyids.map(JSON.string)), "threshold": .integer(Int64(threshold))])
    }

    public var consistentSnapshot: Bool { signed["root"]!["consistent_snapshot"]?.boolValue ?? false }

    public func version(_ role: String) -> Int64 { signed[role]!["version"]!.integerValue! }

    public func bumpVersion(_ role: String) {
        signed[role]!["version"] = .integer(version(role) + 1)
    }

    /// When the role's current metadata expires (nil for a role without an `expires`).
    public func expires(_ role: String) -> Timestamp? {
        signed[role]?["expires"]?.stringValue.flatMap { Timestamp(tufExpires: $0) }
    }

    public func setExpires(_ role: String, _ time: Timestamp) {
        signed[role]!["expires"] = .string(time.tufExpires)
    }

    // MARK: - Content

    /// Adds an artifact and its targets entry (sha256 and sha512) to `role`.
    public func addTarget(_ path: String, content: [UInt8], custom: JSON? = nil, role: String = "targets") {
        let sha256 = Hex.encode(Digest.hash(content, .sha256))
        let sha512 = Hex.encode(Digest.hash(content, .sha512))
        var entry = JSONObject(["length": .integer(Int64(content.count)),
                                "hashes": .object(JSONObject(["sha256": .string(sha256), "sha512": .string(sha512)]))])
        if let custom { entry["custom"] = custom }
        setTargetEntry(path, entry, role: role)
        if consistentSnapshot {
            for digest in [sha256, sha512] {
                if let slash = path.lastIndex(of: "/") {
                    artifacts[path[...slash] + digest + "." + path[path.index(after: slash)...]] = content
                } else {
                    artifacts[digest + "." + path] = content
                }
            }
        } else {
            artifacts[path] = content
        }
    }

    /// Sets a raw targets entry (for entries with no artifact, such as OSTree commits).
    public func setTargetEntry(_ path: String, _ entry: JSONObject, role: String = "targets") {
        var targets = signed[role]!["targets"]!.objectValue!
        targets[path] = .object(entry)
        signed[role]!["targets"] = .object(targets)
    }

    /// Delegates `paths` (or hash prefixes) from `parent` to a new role `name` signed by `keys`.
    public func delegate(from parent: String, to name: String, keys: [TUFSigningKey], threshold: Int = 1,
                         paths: [String]? = nil, pathHashPrefixes: [String]? = nil, terminating: Bool = false) {
        var parentJSON = signed[parent]!
        var delegations = parentJSON["delegations"]?.objectValue
            ?? JSONObject(["keys": .object(JSONObject()), "roles": .array([])])
        var keysJSON = delegations["keys"]!.objectValue!
        for key in keys { keysJSON[key.keyid] = .object(key.publicKey.json) }
        delegations["keys"] = .object(keysJSON)
        var role = Self.roleJSON(keys.map(\.keyid), threshold: threshold)
        role["name"] = .string(name)
        role["terminating"] = .bool(terminating)
        if let paths { role["paths"] = .array(paths.map(JSON.string)) }
        if let pathHashPrefixes { role["path_hash_prefixes"] = .array(pathHashPrefixes.map(JSON.string)) }
        var roles = delegations["roles"]!.arrayValue!
        roles.append(.object(role))
        delegations["roles"] = .array(roles)
        parentJSON["delegations"] = .object(delegations)
        signed[parent] = parentJSON
        if signed[name] == nil {
            var targets = Self.common("targets", expires: expires)
            targets["targets"] = .object(JSONObject())
            signed[name] = targets
        }
        signers[name] = keys
    }

    /// Replaces the keys of a top-level role in root (root's version is not bumped: call
    /// `bumpVersion("root")` and `publishRoot(alsoSignedBy:)` with the old root keys).
    public func rotateKeys(of role: String, to keys: [TUFSigningKey], threshold: Int = 1) {
        var root = signed["root"]!
        var keysJSON = root["keys"]!.objectValue!
        var roles = root["roles"]!.objectValue!
        for key in keys { keysJSON[key.keyid] = .object(key.publicKey.json) }
        roles[role] = .object(Self.roleJSON(keys.map(\.keyid), threshold: threshold))
        // Drop keys no role uses any more.
        let used = Set(roles.flatMap { $0.value["keyids"]?.arrayValue?.compactMap(\.stringValue) ?? [] })
        for id in keysJSON.keys where !used.contains(id) { keysJSON[id] = nil }
        root["keys"] = .object(keysJSON)
        root["roles"] = .object(roles)
        signed["root"] = root
        signers[role] = keys
    }

    // MARK: - Signing and publishing

    /// The metadata envelope of `role`, signed by `keys` (default: `signers[role]`).
    public func envelope(_ role: String, signedBy keys: [TUFSigningKey]? = nil) throws -> JSONObject {
        let body = signed[role]!
        let payload = JSONWriter.canonical(.object(body))
        var signatures: [JSON] = []
        for key in keys ?? signers[role] ?? [] {
            signatures.append(.object(JSONObject(["keyid": .string(key.keyid), "sig": .string(try key.sign(payload))])))
        }
        return JSONObject(["signatures": .array(signatures), "signed": .object(body)])
    }

    public func signedBytes(_ role: String, signedBy keys: [TUFSigningKey]? = nil) throws -> [UInt8] {
        JSONWriter.compact(.object(try envelope(role, signedBy: keys)))
    }

    /// Publishes root as `<version>.root.json` (also `root.json`), signed by the root keys and
    /// any extra keys (the previous root's, during a rotation).
    @discardableResult
    public func publishRoot(alsoSignedBy extra: [TUFSigningKey] = []) throws -> [UInt8] {
        var keys = signers["root"]!
        for key in extra where !keys.contains(where: { $0.keyid == key.keyid }) { keys.append(key) }
        let bytes = try signedBytes("root", signedBy: keys)
        metadata["\(version("root")).root.json"] = bytes
        metadata["root.json"] = bytes
        return bytes
    }

    /// Publishes a targets role (top-level or delegated) under its client-side names.
    @discardableResult
    public func publishTargets(_ role: String = "targets") throws -> [UInt8] {
        let bytes = try signedBytes(role)
        store(bytes, role: role, version: version(role))
        return bytes
    }

    /// Rebuilds snapshot's `meta` from every targets role's current version and publishes it.
    @discardableResult
    public func publishSnapshot() throws -> [UInt8] {
        var meta = JSONObject()
        for (role, body) in signed where !["root", "snapshot", "timestamp"].contains(role) {
            var entry = JSONObject(["version": body["version"]!])
            if listHashesInSnapshot, let bytes = published(role) {
                entry["length"] = .integer(Int64(bytes.count))
                entry["hashes"] = .object(JSONObject(["sha256": .string(Hex.encode(Digest.sha256(bytes)))]))
            }
            meta["\(role).json"] = .object(entry)
        }
        signed["snapshot"]!["meta"] = .object(meta)
        let bytes = try signedBytes("snapshot")
        store(bytes, role: "snapshot", version: version("snapshot"))
        return bytes
    }

    @discardableResult
    public func publishTimestamp() throws -> [UInt8] {
        var entry = JSONObject(["version": .integer(version("snapshot"))])
        if listHashesInTimestamp, let bytes = published("snapshot") {
            entry["length"] = .integer(Int64(bytes.count))
            entry["hashes"] = .object(JSONObject(["sha256": .string(Hex.encode(Digest.sha256(bytes)))]))
        }
        signed["timestamp"]!["meta"] = .object(JSONObject(["snapshot.json": .object(entry)]))
        let bytes = try signedBytes("timestamp")
        metadata["timestamp.json"] = bytes
        return bytes
    }

    /// Publishes every targets role, then snapshot and timestamp (root only when asked).
    public func publishAll(root includeRoot: Bool = false) throws {
        if includeRoot { try publishRoot() }
        for role in signed.keys.sorted() where !["root", "snapshot", "timestamp"].contains(role) {
            try publishTargets(role)
        }
        try publishSnapshot()
        try publishTimestamp()
    }

    func store(_ bytes: [UInt8], role: String, version: Int64) {
        let name = percentEncode(role) + ".json"
        if consistentSnapshot { metadata["\(version).\(name)"] = bytes }
        metadata[name] = bytes
    }

    func published(_ role: String) -> [UInt8]? {
        let name = percentEncode(role) + ".json"
        return consistentSnapshot ? metadata["\(version(role)).\(name)"] : metadata[name]
    }

    /// Writes `metadata` into `<directory>/metadata/` and `artifacts` into
    /// `<directory>/targets/`, creating folders as needed.
    public func write(to directory: String) throws {
        let metadataDir = try DirectoryStore.creating(path: directory + "/metadata")
        for (name, bytes) in metadata { try metadataDir.write(name, bytes) }
        for (path, bytes) in artifacts {
            var dir = directory + "/targets"
            var file = path
            if let slash = path.lastIndex(of: "/") {
                dir += "/" + path[..<slash]
                file = String(path[path.index(after: slash)...])
            }
            try DirectoryStore.creating(path: dir).write(file, bytes)
        }
    }
}
