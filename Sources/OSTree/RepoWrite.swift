import COSTree

/// Writing commits and static deltas: the publishing side (`otter-factory os publish`).
extension Repo {
    /// Commits the directory tree at `directory` on `branch` (parent = the branch's current
    /// head) in one transaction, binds the commit to the branch (`ostree.ref-binding`, so a
    /// client can refuse it under another ref) and returns its checksum. `version` lands in the
    /// standard `version` metadata key; `metadata` adds more string keys.
    public func writeCommit(from directory: String, branch: String, subject: String, body: String = "",
                            version: String? = nil, metadata: [String: String] = [:],
                            timestamp: UInt64? = nil) async throws -> String {
        try await queue.run {
            try self.writeCommitNow(from: directory, branch: branch, subject: subject, body: body,
                                    version: version, metadata: metadata, timestamp: timestamp)
        }
    }

    func writeCommitNow(from directory: String, branch: String, subject: String, body: String,
                        version: String?, metadata: [String: String], timestamp: UInt64?) throws -> String {
        let context = "committing \(directory) to \(branch) in \(path)"
        let parent = try resolveNow(branch)
        try gcall(context) { ostree_repo_prepare_transaction(pointer, nil, nil, $0).isTrue }
        var committed = false
        defer { if !committed { ostree_repo_abort_transaction(pointer, nil, nil) } }

        let tree = GObjectBox(owning: ostree_mutable_tree_new())
        let modifier = ostree_repo_commit_modifier_new(OSTREE_REPO_COMMIT_MODIFIER_FLAGS_NONE, nil, nil, nil)
        defer { ostree_repo_commit_modifier_unref(modifier) }
        var root: OpaquePointer? = nil
        try tree.withPointer { (tree) throws(OSTreeError) in
            try withGFile(directory) { (file) throws(OSTreeError) in
                try gcall(context) { ostree_repo_write_directory_to_mtree(pointer, file, tree, modifier, nil, $0).isTrue }
            }
            try gcall(context) { ostree_repo_write_mtree(pointer, tree, &root, nil, $0).isTrue }
        }
        let rootFile = GObjectBox(owning: root!)

        var entries: [(String, VariantValue)] = [("ostree.ref-binding", .strings([branch]))]
        if let version { entries.append(("version", .string(version))) }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { entries.append((key, .string(value))) }
        let metadataVariant = GVariantBox(sinking: makeVardict(entries))

        var out: UnsafeMutablePointer<CChar>? = nil
        try withExtendedLifetime((rootFile, metadataVariant)) { () throws(OSTreeError) in
            try gcall(context) {
                if let timestamp {
                    return ostree_repo_write_commit_with_time(pointer, parent, subject, body, metadataVariant.pointer,
                                                              rootFile.pointer, guint64(timestamp), &out, nil, $0).isTrue
                }
                return ostree_repo_write_commit(pointer, parent, subject, body, metadataVariant.pointer,
                                                rootFile.pointer, &out, nil, $0).isTrue
            }
        }
        guard let checksum = takeString(out) else {
            throw OSTreeError(message: "libostree returned no checksum", context: context)
        }
        ostree_repo_transaction_set_ref(pointer, nil, branch, checksum)
        try gcall(context) { ostree_repo_commit_transaction(pointer, nil, nil, $0).isTrue }
        committed = true
        return checksum
    }

    /// Generates the static delta `from → to` (nil `from`: a "from scratch" delta), so a
    /// device on `from` downloads one file set instead of every changed object.
    public func generateStaticDelta(from: String?, to: String) async throws {
        try await queue.run {
            let context = "generating the static delta \(from ?? "(scratch)") → \(to) in \(self.path)"
            try GVariantBox(sinking: makeVardict([])).withPointer { (params) throws(OSTreeError) in
                try gcall(context) {
                    ostree_repo_static_delta_generate(self.pointer, OSTREE_STATIC_DELTA_GENERATE_OPT_MAJOR, from, to,
                                                      nil, params, nil, $0).isTrue
                }
            }
        }
    }

    /// Rewrites the repo summary (refs and the list of deltas), as `ostree summary -u` does.
    public func regenerateSummary() async throws {
        try await queue.run {
            try gcall("updating the summary of \(self.path)") {
                ostree_repo_regenerate_summary(self.pointer, nil, nil, $0).isTrue
            }
        }
    }
}
