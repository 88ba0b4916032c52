public struct TUFClientConfiguration: Sendable {
    /// Ends with `/`; file names are appended as is.
    public var metadataBaseURL: String
    /// Ends with `/`; only needed to download artifacts.
    public var targetBaseURL: String?
    public var maxRootRotations = 256
    public var maxDelegations = 32
    public var rootMaxLength = 512_000
    public var timestampMaxLength = 16_384
    public var snapshotMaxLength = 2_000_000
    /// Used when the snapshot lists no length; large enough for fleets with many Targets.
    public var targetsMaxLength = 32 << 20
    /// Artifact URLs under consistent snapshot are `<dir>/<hash>.<name>` (TUF §5.7.3).
    public var prefixTargetsWithHash = true

    public init(metadataBaseURL: String, targetBaseURL: String? = nil) {
        self.metadataBaseURL = metadataBaseURL
        self.targetBaseURL = targetBaseURL
    }
}

/// The TUF client workflow (specification §5, python-tuf ngclient behaviour where the spec is
/// loose): `refresh()` updates root, timestamp, snapshot and top-level targets; `target(_:)`
/// searches the delegation tree; `download(_:into:)` fetches and verifies an artifact.
///
/// A file is written to the metadata store only after it passed every check, byte for byte as
/// received, except root, which is written once its signatures, type and version passed
/// (§5.3.8), before the freeze check.
public final class TUFClient {
    public let configuration: TUFClientConfiguration
    let transport: any TUFTransport
    let store: any TrustedStore
    let clock: any TUFClock
    let parser = JSONParser()

    public private(set) var root: Metadata<Root>?
    public private(set) var timestamp: Metadata<TimestampRole>?
    public private(set) var snapshot: Metadata<SnapshotRole>?
    public private(set) var targets: Metadata<TargetsRole>?

    /// Delegated roles verified in this process, keyed by (role, delegator): a copy verified
    /// through one delegator never stands in for another (the "diamond" case).
    private var verifiedDelegations: [String: Metadata<TargetsRole>] = [:]
    /// Delegated metadata fetched in this process, so each role is requested at most once.
    private var fetchedDelegations: [String: [UInt8]] = [:]
    private var persistedDelegations: Set<String> = []
    private var refreshed = false

    public init(configuration: TUFClientConfiguration, transport: any TUFTransport, store: any TrustedStore,
                clock: any TUFClock = SystemClock()) {
        self.configuration = configuration
        self.transport = transport
        self.store = store
        self.clock = clock
    }

    // MARK: - Refresh (§5.3–5.6)

    /// Updates the top-level metadata. Succeeds only if every top-level role ends up trusted,
    /// current and unexpired. Runs once per client; later calls return at once.
    public func refresh() async throws(TUFError) {
        if refreshed { return }
        try loadTrustedRoot()
        try await updateRoot()
        try await updateTimestamp()
        try await updateSnapshot()
        targets = try await loadTargets(role: "targets", delegator: "root",
                                        keys: root!.signed.keys, roleKeys: root!.signed.keys(for: "targets"))
        refreshed = true
    }

    /// §5.2: the local root must be well-formed and signed by its own root threshold before any
    /// request is made.
    func loadTrustedRoot() throws(TUFError) {
        guard let bytes = store.read("root.json") else {
            throw TUFError(.storage, "no trusted root.json in the metadata directory; install the initial root first")
        }
        let local = try Metadata<Root>.parse(bytes, role: "trusted root.json", parser: parser)
        try local.verify(local.signed.keys(for: "root"), keys: local.signed.keys, payload: local.payload(),
                         role: "trusted root.json", by: "itself")
        root = local
    }

    func updateRoot() async throws(TUFError) {
        for _ in 0..<configuration.maxRootRotations {
            let trusted = root!
            let next = trusted.signed.version + 1
            let name = "\(next).root.json"
            let data: [UInt8]
            do {
                data = try await fetch(name, maxLength: configuration.rootMaxLength)
            } catch where error.kind == .notFound {
                break
            }
            let candidate = try Metadata<Root>.parse(data, role: name, parser: parser)
            let payload = try candidate.payload()
            try candidate.verify(trusted.signed.keys(for: "root"), keys: trusted.signed.keys, payload: payload,
                                 role: name, by: "trusted root v\(trusted.signed.version)")
            guard candidate.signed.version == next else {
                throw TUFError(.badVersion, "\(name) holds version \(candidate.signed.version), expected \(next)")
            }
            try candidate.verify(candidate.signed.keys(for: "root"), keys: candidate.signed.keys, payload: payload,
                                 role: name, by: "itself")
            root = candidate
            try store.write("root.json", data)
        }
        let final = root!.signed
        if final.isExpired(at: clock.now()) {
            throw TUFError(.expired, "root v\(final.version) expired at \(final.common.expiresText) (freeze attack, or the repository needs a new root)")
        }
    }

    func updateTimestamp() async throws(TUFError) {
        let root = root!.signed
        // §5.4 / TUF-CLIENT-CLI §8.3: a local timestamp that still verifies under the current root
        // is the rollback reference, expired or not; one that does not (keys rotated) is ignored,
        // which is what lets a repository recover by fast-forwarding.
        var reference: Metadata<TimestampRole>?
        if let local = store.read("timestamp.json"),
           let md = try? Metadata<TimestampRole>.parse(local, role: "timestamp.json", parser: parser),
           (try? md.verify(root.keys(for: "timestamp"), keys: root.keys, payload: md.payload(),
                           role: "timestamp.json", by: "root")) != nil {
            reference = md
        }
        let data = try await fetch("timestamp.json", maxLength: configuration.timestampMaxLength)
        let new = try Metadata<TimestampRole>.parse(data, role: "timestamp.json", parser: parser)
        try new.verify(root.keys(for: "timestamp"), keys: root.keys, payload: new.payload(),
                       role: "timestamp.json", by: "root")
        if let reference {
            let old = reference.signed
            if new.signed.version < old.version {
                throw TUFError(.rollback, "timestamp.json: version \(new.signed.version) is older than the trusted \(old.version)")
            }
            if new.signed.version == old.version {
                // Same version: keep the trusted copy, bytes and all.
                timestamp = reference
                try checkTimestampFinal()
                return
            }
            if new.signed.snapshotMeta.version < old.snapshotMeta.version {
                throw TUFError(.rollback, "timestamp.json: snapshot version \(new.signed.snapshotMeta.version) is older than the trusted \(old.snapshotMeta.version)")
            }
        }
        timestamp = new
        try checkTimestampFinal()
        try store.write("timestamp.json", data)
    }

    func checkTimestampFinal() throws(TUFError) {
        let t = timestamp!.signed
        if t.isExpired(at: clock.now()) {
            throw TUFError(.expired, "timestamp.json v\(t.version) expired at \(t.common.expiresText) (freeze attack?)")
        }
    }

    func updateSnapshot() async throws(TUFError) {
        let root = root!.signed
        let meta = timestamp!.signed.snapshotMeta
        var reference: Metadata<SnapshotRole>?
        if let local = store.read("snapshot.json"),
           let md = try? Metadata<SnapshotRole>.parse(local, role: "snapshot.json", parser: parser),
           (try? md.verify(root.keys(for: "snapshot"), keys: root.keys, payload: md.payload(),
                           role: "snapshot.json", by: "root")) != nil {
            reference = md
            if md.signed.version == meta.version, !md.signed.isExpired(at: clock.now()) {
                snapshot = md
                return
            }
        }
        let name = root.consistentSnapshot ? "\(meta.version).snapshot.json" : "snapshot.json"
        let data = try await fetch(name, maxLength: meta.length.map { Int(clamping: $0) } ?? configuration.snapshotMaxLength)
        try meta.verify(data, role: name)
        let new = try Metadata<SnapshotRole>.parse(data, role: name, parser: parser)
        try new.verify(root.keys(for: "snapshot"), keys: root.keys, payload: new.payload(), role: name, by: "root")
        if let reference {
            for (file, info) in reference.signed.meta {
                guard let now = new.signed.meta[file] else {
                    throw TUFError(.rollback, "\(name) no longer lists \(file), which the trusted snapshot has")
                }
                guard now.version >= info.version else {
                    throw TUFError(.rollback, "\(name) lists \(file) v\(now.version), older than the trusted v\(info.version)")
                }
            }
        }
        guard new.signed.version == meta.version else {
            throw TUFError(.badVersion, "\(name) holds version \(new.signed.version), timestamp.json says \(meta.version)")
        }
        if new.signed.isExpired(at: clock.now()) {
            throw TUFError(.expired, "\(name) expired at \(new.signed.common.expiresText) (freeze attack?)")
        }
        snapshot = new
        try store.write("snapshot.json", data)
    }

    /// §5.6 for the top-level targets and for each delegated role reached by the search.
    func loadTargets(role: String, delegator: String, keys: [String: TUFKey],
                     roleKeys: RoleKeys) async throws(TUFError) -> Metadata<TargetsRole> {
        let cacheKey = role + "\u{0}" + delegator
        if let done = verifiedDelegations[cacheKey] { return done }
        guard let meta = snapshot!.signed.meta["\(role).json"] else {
            throw TUFError(.delegationNotInSnapshot, "role \(role) is not listed in snapshot.json; it cannot be trusted")
        }
        let fileName = percentEncode(role) + ".json"
        func check(_ data: [UInt8], _ what: String) throws(TUFError) -> Metadata<TargetsRole> {
            try meta.verify(data, role: what)
            let md = try Metadata<TargetsRole>.parse(data, role: what, parser: parser)
            try md.verify(roleKeys, keys: keys, payload: md.payload(), role: what, by: delegator)
            guard md.signed.version == meta.version else {
                throw TUFError(.badVersion, "\(what) holds version \(md.signed.version), snapshot.json says \(meta.version)")
            }
            if md.signed.isExpired(at: clock.now()) {
                throw TUFError(.expired, "\(what) expired at \(md.signed.common.expiresText) (freeze attack?)")
            }
            return md
        }
        if let fetched = fetchedDelegations[role] {
            let md = try check(fetched, "\(role) (as delegated by \(delegator))")
            if persistedDelegations.insert(role).inserted { try store.write(fileName, fetched) }
            verifiedDelegations[cacheKey] = md
            return md
        }
        if let local = store.read(fileName), let md = try? check(local, fileName) {
            verifiedDelegations[cacheKey] = md
            return md
        }
        let name = root!.signed.consistentSnapshot ? "\(meta.version).\(fileName)" : fileName
        let data = try await fetch(name, maxLength: meta.length.map { Int(clamping: $0) } ?? configuration.targetsMaxLength)
        // The top-level targets is only ever delegated by root; keeping its bytes would double
        // the memory a large targets file costs.
        if role != "targets" { fetchedDelegations[role] = data }
        let md = try check(data, name)
        try store.write(fileName, data)
        persistedDelegations.insert(role)
        verifiedDelegations[cacheKey] = md
        return md
    }

    // MARK: - Target search (§5.6.7) and download (§5.7)

    /// Finds `path` by a pre-order depth-first walk of the delegation tree from `targets`.
    public func target(_ path: String) async throws(TUFError) -> TargetFile {
        try await refresh()
        struct Visit { let role: String; let delegator: String; let keys: [String: TUFKey]; let roleKeys: RoleKeys }
        var pending = [Visit(role: "targets", delegator: "root", keys: root!.signed.keys,
                             roleKeys: root!.signed.keys(for: "targets"))]
        var visited = Set<String>()
        while visited.count <= configuration.maxDelegations, let visit = pending.popLast() {
            if visited.contains(visit.role) { continue }
            let md = try await loadTargets(role: visit.role, delegator: visit.delegator, keys: visit.keys,
                                           roleKeys: visit.roleKeys)
            if let found = md.signed.target(path) { return found }
            visited.insert(visit.role)
            guard let delegations = md.signed.delegations else { continue }
            var children: [Visit] = []
            for child in delegations.roles where child.isDelegated(path) {
                children.append(Visit(role: child.name, delegator: visit.role, keys: delegations.keys, roleKeys: child.keys))
                if child.terminating {
                    pending.removeAll()
                    break
                }
            }
            pending.append(contentsOf: children.reversed())
        }
        throw TUFError(.targetNotFound, "target \(path) is not listed by any trusted targets role")
    }

    /// The file name a target is stored under in an artifact directory: the percent-encoded
    /// path, flat, with a leading `.` encoded too so no name is hidden, `.` or `..`.
    public static func localName(for path: String) -> String {
        let encoded = percentEncode(path)
        return encoded.hasPrefix(".") ? "%2E" + encoded.dropFirst() : encoded
    }

    /// Makes sure `target` is in `artifacts`, verified: a present copy whose length and hashes
    /// match is kept untouched (no request); otherwise it is downloaded, checked in memory and
    /// only then written. Returns true when it downloaded.
    @discardableResult
    public func download(_ target: TargetFile, into artifacts: any TrustedStore) async throws(TUFError) -> Bool {
        let name = Self.localName(for: target.path)
        if let existing = artifacts.read(name), (try? target.verify(existing)) != nil { return false }
        // Refuse an unsupported hash before spending a download on it.
        for (algorithm, _) in target.hashes where !["sha256", "sha512"].contains(algorithm) {
            throw TUFError(.unsupportedHash, "target \(target.path): hash algorithm \"\(algorithm)\" is not supported (sha256, sha512)")
        }
        guard let base = configuration.targetBaseURL else {
            throw TUFError(.transport, "no target base URL configured")
        }
        var relative = target.path
        if root!.signed.consistentSnapshot, configuration.prefixTargetsWithHash, let first = target.hashes.first {
            if let slash = target.path.lastIndex(of: "/") {
                relative = target.path[...slash] + first.value + "." + target.path[target.path.index(after: slash)...]
            } else {
                relative = first.value + "." + target.path
            }
        }
        let url = base + urlSafe(relative)
        let data: [UInt8]
        do {
            data = try await transport.fetch(url, maxLength: Int(clamping: target.length))
        } catch {
            throw Self.map(error)
        }
        try target.verify(data)
        try artifacts.write(name, data)
        return true
    }

    // MARK: - Transport

    func fetch(_ name: String, maxLength: Int) async throws(TUFError) -> [UInt8] {
        do {
            return try await transport.fetch(configuration.metadataBaseURL + name, maxLength: maxLength)
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ error: TUFTransportError) -> TUFError {
        switch error {
        case .notFound: TUFError(.notFound, error.description)
        case .tooLarge: TUFError(.tooLarge, error.description)
        case .failed: TUFError(.transport, error.description)
        }
    }
}

/// Target paths go into URLs as they are (as the reference client does); only bytes that cannot
/// appear in a URL at all are escaped.
func urlSafe(_ path: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for c in path.utf8 {
        if c <= 0x20 || c >= 0x7F { out += [UInt8(ascii: "%"), hex[Int(c >> 4)], hex[Int(c & 15)]] } else { out.append(c) }
    }
    return String(decoding: out, as: UTF8.self)
}
