import COSTree

/// An OSTree repository (`ostree_repo`). All calls run on the repo's own serial queue, so async
/// callers never block the cooperative pool and libostree never sees concurrent use of a handle.
public final class Repo: @unchecked Sendable {
    let handle: GObjectBox
    public let path: String
    let queue: BlockingQueue

    init(handle: GObjectBox, path: String) {
        self.handle = handle
        self.path = path
        self.queue = BlockingQueue(label: "otter.ostree.repo")
    }

    var pointer: OpaquePointer { handle.pointer }

    /// Opens an existing repository.
    public static func open(at path: String) throws -> Repo {
        let repo = withGFile(path) { GObjectBox(owning: ostree_repo_new($0)) }
        try gcall("opening OSTree repo \(path)") { ostree_repo_open(repo.pointer, nil, $0).isTrue }
        return Repo(handle: repo, path: path)
    }

    /// Creates a repository (or opens it if one of the same mode is already there).
    public static func create(at path: String, mode: RepoMode) throws -> Repo {
        let repo = withGFile(path) { GObjectBox(owning: ostree_repo_new($0)) }
        try gcall("creating \(mode.rawValue) OSTree repo \(path)") {
            ostree_repo_create(repo.pointer, mode.cValue, nil, $0).isTrue
        }
        return Repo(handle: repo, path: path)
    }

    public var mode: RepoMode {
        queue.sync { RepoMode(ostree_repo_get_mode(pointer)) ?? .bare }
    }

    /// The checksum a ref (or a checksum prefix) resolves to, or nil when there is no such ref.
    public func resolve(_ refspec: String) async throws -> String? {
        try await queue.run { try self.resolveNow(refspec) }
    }

    func resolveNow(_ refspec: String) throws -> String? {
        var out: UnsafeMutablePointer<CChar>? = nil
        try gcall("resolving \(refspec) in \(path)") { ostree_repo_resolve_rev(pointer, refspec, 1, &out, $0).isTrue }
        return takeString(out)
    }

    /// All refs (`name -> checksum`), remote refs as `remote:name`, optionally under a prefix.
    public func refs(prefix: String? = nil) async throws -> [String: String] {
        try await queue.run {
            var table: OpaquePointer? = nil
            try gcall("listing refs in \(self.path)") { ostree_repo_list_refs(self.pointer, prefix, &table, nil, $0).isTrue }
            guard let table else { return [:] }
            defer { g_hash_table_unref(table) }
            var result: [String: String] = [:]
            var iter = GHashTableIter()
            g_hash_table_iter_init(&iter, table)
            var key: gpointer? = nil
            var value: gpointer? = nil
            while g_hash_table_iter_next(&iter, &key, &value).isTrue {
                guard let key, let value else { continue }
                let name = String(cString: key.assumingMemoryBound(to: CChar.self))
                result[prefix.map { "\($0)/\(name)" } ?? name] = String(cString: value.assumingMemoryBound(to: CChar.self))
            }
            return result
        }
    }

    /// Points `ref` at `checksum` (nil deletes it), outside of any transaction.
    public func setRef(_ ref: String, to checksum: String?, remote: String? = nil) async throws {
        try await queue.run { try self.setRefNow(ref, to: checksum, remote: remote) }
    }

    func setRefNow(_ ref: String, to checksum: String?, remote: String? = nil) throws {
        try gcall("setting ref \(remote.map { "\($0):" } ?? "")\(ref) in \(path)") {
            ostree_repo_set_ref_immediate(pointer, remote, ref, checksum, nil, $0).isTrue
        }
    }

    /// Reads a commit: subject, body, version, timestamp, parent, metadata, detached metadata keys.
    public func commit(_ checksum: String) async throws -> Commit {
        try await queue.run { try self.commitNow(checksum) }
    }

    func commitNow(_ rev: String) throws -> Commit {
        guard let checksum = try resolveNow(rev) else {
            throw OSTreeError(message: "no such commit or ref", context: "reading commit \(rev) in \(path)")
        }
        var variant: OpaquePointer? = nil
        var state = OstreeRepoCommitState(0)
        try gcall("reading commit \(checksum) in \(path)") {
            ostree_repo_load_commit(pointer, checksum, &variant, &state, $0).isTrue
        }
        let keys = try detachedMetadataNow(checksum).map { Vardict($0).entries().map(\.key) } ?? []
        return GVariantBox(owning: variant!).withPointer { commit in
            // Subject and body point into the commit variant: copied while it is alive.
            let strings = Vardict(GVariantBox(owning: costree_commit_metadata(commit))).strings()
            return Commit(
                checksum: checksum,
                subject: String(cString: costree_commit_subject(commit)),
                body: String(cString: costree_commit_body(commit)),
                version: strings["version"],
                timestamp: UInt64(ostree_commit_get_timestamp(commit)),
                parent: takeString(ostree_commit_get_parent(commit)),
                metadata: strings,
                detachedMetadataKeys: keys.sorted(),
                isPartial: state.rawValue & OSTREE_REPO_COMMIT_STATE_PARTIAL.rawValue != 0)
        }
    }

    /// The commit object as a GVariant (OSTREE_COMMIT_GVARIANT_FORMAT).
    func commitVariantNow(_ checksum: String) throws -> GVariantBox {
        var variant: OpaquePointer? = nil
        try gcall("loading commit \(checksum) in \(path)") {
            ostree_repo_load_variant(pointer, OSTREE_OBJECT_TYPE_COMMIT, checksum, &variant, $0).isTrue
        }
        return GVariantBox(owning: variant!)
    }

    /// The refs a commit is bound to (`ostree.ref-binding`, written by `ostree commit -b`).
    func refBindingsNow(_ checksum: String) throws -> [String] {
        let metadata = try commitVariantNow(checksum).withPointer { GVariantBox(owning: costree_commit_metadata($0)) }
        guard let bindings = Vardict(metadata).value("ostree.ref-binding") else { return [] }
        // g_variant_get_strv's strings point into the variant: copied while it is alive.
        return bindings.withPointer { value in
            guard g_variant_is_of_type(value, costree_variant_type_strv()).isTrue else { return [] }
            var length: gsize = 0
            guard let strv = g_variant_get_strv(value, &length) else { return [] }
            defer { g_free(strv) }
            return (0..<Int(length)).compactMap { strv[$0].map { String(cString: $0) } }
        }
    }

    /// The raw commit object bytes: what an OSTree commit signature signs.
    func commitBytesNow(_ checksum: String) throws -> [UInt8] {
        variantBytes(try commitVariantNow(checksum))
    }

    func detachedMetadataNow(_ checksum: String) throws -> GVariantBox? {
        var out: OpaquePointer? = nil
        try gcall("reading detached metadata of \(checksum) in \(path)") {
            ostree_repo_read_commit_detached_metadata(pointer, checksum, &out, nil, $0).isTrue
        }
        return out.map { GVariantBox(owning: $0) }
    }

    /// Removes a commit object (and its detached metadata) that must never be used.
    func deleteCommitNow(_ checksum: String) throws {
        try gcall("deleting commit \(checksum) from \(path)") {
            ostree_repo_delete_object(pointer, OSTREE_OBJECT_TYPE_COMMIT, checksum, nil, $0).isTrue
        }
    }

    public func hasObject(commit checksum: String) async throws -> Bool {
        try await queue.run {
            var has: gboolean = 0
            try gcall("looking up commit \(checksum) in \(self.path)") {
                ostree_repo_has_object(self.pointer, OSTREE_OBJECT_TYPE_COMMIT, checksum, &has, nil, $0).isTrue
            }
            return has.isTrue
        }
    }

    /// Checks every object reachable from `checksum` against its checksum (like `ostree fsck`).
    public func verifyObjects(of checksum: String) async throws {
        try await queue.run {
            let repo = self.pointer
            var reachable: OpaquePointer? = nil
            try gcall("listing objects of \(checksum) in \(self.path)") {
                ostree_repo_traverse_commit(repo, checksum, 0, &reachable, nil, $0).isTrue
            }
            guard let reachable else { return }
            defer { g_hash_table_unref(reachable) }
            var iter = GHashTableIter()
            g_hash_table_iter_init(&iter, reachable)
            var key: gpointer? = nil
            while g_hash_table_iter_next(&iter, &key, nil).isTrue {
                guard let key else { continue }
                var name: UnsafePointer<CChar>? = nil
                var type = OSTREE_OBJECT_TYPE_FILE
                ostree_object_name_deserialize(OpaquePointer(key), &name, &type)
                guard let name else { continue }
                let object = String(cString: name)
                try gcall("verifying object \(object) of commit \(checksum)") {
                    ostree_repo_fsck_object(repo, type, object, nil, $0).isTrue
                }
            }
        }
    }
}
