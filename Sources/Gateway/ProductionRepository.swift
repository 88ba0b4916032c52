import Factory
import FoundationEssentials
import OtterCrypto
import TUF

/// The production TUF repositories, one per tag, and the repositories of waves, stored in the
/// factory database (`tuf_documents`, repo `prod/<tag>` or `wave/<name>`), so any gateway on the
/// same database serves them.
///
/// A production root lists two keys for the targets role, the factory's online targets key
/// and the operator's offline key, with threshold 2: production targets metadata is valid
/// only with both signatures. That threshold is also the marker devices check (a production
/// device refuses a root whose targets threshold is below 2; a test device refuses one at 2 or
/// more). Root, snapshot and timestamp are signed online by the factory.
///
/// Signing with the offline key happens where the key is (`sign(targets:with:)`); the server
/// only adds its online signature to metadata that already carries a valid offline one
/// (`accept(signedTargets:repo:)`).
public struct ProductionRepository: Sendable {
    public let database: FactoryDatabase
    public let factory: FactoryDirectory
    public static let expiryDays: Int64 = 365

    public init(database: FactoryDatabase, factory: FactoryDirectory) {
        self.database = database
        self.factory = factory
    }

    public static func prodRepo(_ tag: String) -> String { "prod/" + tag }
    public static func waveRepo(_ name: String) -> String { "wave/" + name }
    static func pendingRepo(_ name: String) -> String { "pending/" + name }

    // MARK: Documents

    public func document(_ repo: String, _ name: String) async throws -> [UInt8]? {
        try await database.engine.queryOne("SELECT body FROM tuf_documents WHERE repo = ? AND name = ?", [repo, name])?.bytes("body")
    }

    func statements(storing documents: [String: [UInt8]], in repo: String) -> [SQLStatement] {
        // timestamp.json last: it is the file that makes a new version visible.
        documents.sorted { ($0.key == "timestamp.json" ? 1 : 0, $0.key) < ($1.key == "timestamp.json" ? 1 : 0, $1.key) }.map {
            SQLStatement("""
            INSERT INTO tuf_documents(repo, name, body) VALUES (?, ?, ?)
            ON CONFLICT(repo, name) DO UPDATE SET body = excluded.body
            """, [repo, $0.key, $0.value])
        }
    }

    static func signedBody(_ envelope: [UInt8], what: String) throws -> JSONObject {
        guard let body = try? JSONParser().parse(envelope)["signed"]?.objectValue else {
            throw FactoryError("\(what) is not TUF metadata (no \"signed\" object)")
        }
        return body
    }

    public func root(tag: String) async throws -> JSONObject {
        guard let bytes = try await document(Self.prodRepo(tag), "root.json") else {
            throw FactoryError("tag \(tag) has no production repository; create it with `otter-factory production init \(tag) -k OFFLINE_KEY`")
        }
        return try Self.signedBody(bytes, what: "the production root of \(tag)")
    }

    public func targets(tag: String) async throws -> JSONObject {
        guard let bytes = try await document(Self.prodRepo(tag), "targets.json") else {
            throw FactoryError("tag \(tag) has no production targets")
        }
        return try Self.signedBody(bytes, what: "the production targets of \(tag)")
    }

    // MARK: Operator side (where the offline key is)

    /// A targets envelope signed by `key` only (the server adds the online signature).
    public static func sign(targets body: JSONObject, with key: TUFSigningKey) throws -> [UInt8] {
        let payload = JSONWriter.canonical(.object(body))
        let signature = JSONObject(["keyid": .string(key.keyid), "sig": .string(try key.sign(payload))])
        return JSONWriter.compact(.object(JSONObject(["signatures": .array([.object(signature)]), "signed": .object(body)])))
    }

    static func targetsBody(version: Int64, targets: JSONObject, expiryDays: Int64 = expiryDays) -> JSONObject {
        JSONObject(["_type": .string("targets"), "spec_version": .string("1.0.31"), "version": .integer(version),
                    "expires": .string(SystemClock().now().adding(seconds: expiryDays * 86400).tufExpires),
                    "targets": .object(targets)])
    }

    // MARK: Server side

    /// Adds the online targets signature to `envelope` after checking that the root of `tag`
    /// accepts its offline signatures (threshold − 1 of the offline keys).
    public func cosign(_ envelope: [UInt8], tag: String, root: JSONObject? = nil) throws -> [UInt8] {
        guard var object = (try? JSONParser().parse(envelope))?.objectValue, let body = object["signed"]?.objectValue,
              var signatures = object["signatures"]?.arrayValue else {
            throw FactoryError("the uploaded targets metadata of \(tag) is not a TUF envelope")
        }
        let online = try factory.onlineKeys()["targets"]![0]
        if let root {
            let rootRole = try Root(signed: root, raw: nil, role: "root")
            guard let role = rootRole.roles["targets"] else { throw FactoryError("the production root of \(tag) has no targets role") }
            let offline = RoleKeys(keyids: role.keyids.filter { $0 != online.keyid }, threshold: max(1, role.threshold - 1))
            do {
                let metadata = try Metadata<TargetsRole>.parse(envelope, role: "targets")
                try metadata.verify(offline, keys: rootRole.keys, payload: try metadata.payload(), role: "targets", by: "root")
            } catch {
                throw FactoryError("the uploaded targets metadata of \(tag) lacks a valid offline signature: \(error); sign it with the operator's offline key (-k)")
            }
        }
        let payload = JSONWriter.canonical(.object(body))
        signatures.removeAll { $0["keyid"]?.stringValue == online.keyid }
        signatures.append(.object(JSONObject(["keyid": .string(online.keyid), "sig": .string(try online.sign(payload))])))
        object["signatures"] = .array(signatures)
        return JSONWriter.compact(.object(object))
    }

    /// A complete repository around a co-signed targets envelope: snapshot and timestamp at
    /// the tag's next sequence number (shared by the tag's production and wave repositories,
    /// so a device moving between them never sees a version go back).
    func documents(root rootBytes: [UInt8], targets: [UInt8], tag: String) async throws -> [String: [UInt8]] {
        let sequence = try await nextSequence(tag: tag)
        let keys = try factory.onlineKeys()
        let targetsBody = try Self.signedBody(targets, what: "targets")
        let rootBody = try Self.signedBody(rootBytes, what: "root")
        let repository = TUFRepository(signed: [
            "root": rootBody, "targets": targetsBody,
            "snapshot": Self.common("snapshot", version: sequence), "timestamp": Self.common("timestamp", version: sequence),
        ], signers: keys, expires: SystemClock().now().adding(seconds: Self.expiryDays * 86400))
        try repository.publishSnapshot()
        try repository.publishTimestamp()
        var documents = repository.metadata
        let rootVersion = rootBody["version"]?.integerValue ?? 1
        documents["root.json"] = rootBytes
        documents["\(rootVersion).root.json"] = rootBytes
        documents["targets.json"] = targets
        documents["\(targetsBody["version"]?.integerValue ?? 1).targets.json"] = targets
        return documents
    }

    static func common(_ type: String, version: Int64) -> JSONObject {
        JSONObject(["_type": .string(type), "spec_version": .string("1.0.31"), "version": .integer(version),
                    "expires": .string(SystemClock().now().adding(seconds: expiryDays * 86400).tufExpires),
                    "meta": .object(JSONObject())])
    }

    func nextSequence(tag: String) async throws -> Int64 {
        let key = "tuf.sequence." + tag
        let next = Int64(try await database.setting(key) ?? "0").map { $0 + 1 } ?? 1
        try await database.setSetting(key, String(next))
        return next
    }

    /// Creates the production repository of `tag`: root version 1 whose targets role needs the
    /// online key and `offline` (threshold 2), and empty targets version 1 signed by both.
    public func create(tag: String, offline: TUFSigningKey) async throws {
        if try await document(Self.prodRepo(tag), "root.json") != nil {
            throw FactoryError("tag \(tag) already has a production repository; rotate its offline key with `otter-factory production rotate-key`")
        }
        let root = try rootBody(version: 1, offline: [offline])
        let rootBytes = try signRoot(root)
        let targets = try cosign(try Self.sign(targets: Self.targetsBody(version: 1, targets: JSONObject()), with: offline),
                                 tag: tag, root: root)
        try await database.engine.execute(statements(storing: try await documents(root: rootBytes, targets: targets, tag: tag),
                                                     in: Self.prodRepo(tag)))
    }

    func rootBody(version: Int64, offline: [TUFSigningKey]) throws -> JSONObject {
        let keys = try factory.onlineKeys()
        var keysJSON = JSONObject()
        var roles = JSONObject()
        for role in Root.roleNames {
            var ids = keys[role]!.map(\.keyid)
            for key in keys[role]! { keysJSON[key.keyid] = .object(key.publicKey.json) }
            if role == "targets" {
                for key in offline {
                    keysJSON[key.keyid] = .object(key.publicKey.json)
                    ids.append(key.keyid)
                }
            }
            roles[role] = .object(JSONObject(["keyids": .array(ids.map(JSON.string)),
                                              "threshold": .integer(role == "targets" ? 2 : 1)]))
        }
        return JSONObject(["_type": .string("root"), "spec_version": .string("1.0.31"), "version": .integer(version),
                           "expires": .string(SystemClock().now().adding(seconds: Self.expiryDays * 86400).tufExpires),
                           "keys": .object(keysJSON), "roles": .object(roles), "consistent_snapshot": .bool(true)])
    }

    func signRoot(_ body: JSONObject) throws -> [UInt8] {
        let repository = TUFRepository(signed: ["root": body], signers: try factory.onlineKeys(),
                                       expires: SystemClock().now())
        return try repository.signedBytes("root")
    }

    /// A new root version naming `newKey` as the offline targets key instead of the old one,
    /// and the current targets re-signed by the new key (version + 1).
    public func rotateOfflineKey(tag: String, newKey: TUFSigningKey) async throws -> Int64 {
        let old = try await root(tag: tag)
        let version = (old["version"]?.integerValue ?? 1) + 1
        let root = try rootBody(version: version, offline: [newKey])
        let rootBytes = try signRoot(root)
        let current = try await targets(tag: tag)
        let body = Self.targetsBody(version: (current["version"]?.integerValue ?? 1) + 1,
                                    targets: current["targets"]?.objectValue ?? JSONObject())
        let targets = try cosign(try Self.sign(targets: body, with: newKey), tag: tag, root: root)
        // Devices walk root versions one by one: every earlier N.root.json stays (upsert by name).
        let files = try await documents(root: rootBytes, targets: targets, tag: tag)
        try await database.engine.execute(statements(storing: files, in: Self.prodRepo(tag)))
        return version
    }

    /// Publishes co-signed `targets` as the production targets of `tag`.
    func publishProduction(tag: String, targets: [UInt8]) async throws -> [SQLStatement] {
        guard let rootBytes = try await document(Self.prodRepo(tag), "root.json") else {
            throw FactoryError("tag \(tag) has no production repository")
        }
        return statements(storing: try await documents(root: rootBytes, targets: targets, tag: tag), in: Self.prodRepo(tag))
    }

    // MARK: Serving

    /// The metadata file a production device gets: from its active wave's repository when it
    /// is in one (root versions always come from the tag's), else from the tag's.
    public func metadata(_ file: String, deviceUUID: String, tag: String) async throws -> [UInt8]? {
        if !file.hasSuffix("root.json"),
           let wave = try await database.engine.queryOne("""
           SELECT w.name FROM wave_devices d JOIN waves w ON w.name = d.wave WHERE d.device_uuid = ? AND w.state = 'active' AND w.tag = ?
           """, [deviceUUID, tag])?.string("name"),
           let bytes = try await document(Self.waveRepo(wave), file) {
            return bytes
        }
        return try await document(Self.prodRepo(tag), file)
    }
}
