import OCI

extension AppStore {
    /// What `prune` removed and kept.
    public struct PruneReport: Sendable, Equatable, Encodable {
        public var keptApps: [AppReference]
        public var removedBundles: Int
        public var removedBlobs: Int
        /// Partial downloads of blobs no referenced app needs.
        public var removedPartials: Int
        public var freedBytes: Int64
    }

    /// Removes every bundle, blob and partial download that no referenced app (any role:
    /// `current`, `pending`, …) reaches, and leftovers of interrupted unpacks. Fetched apps
    /// that are not referenced are forgotten.
    @discardableResult
    public func prune() throws -> PruneReport {
        let lock = try lock()
        defer { lock.release() }
        var state = try readState()
        let referenced = Set(state.references.values.joined())
        var keep = Set<OCIDigest>()
        for app in referenced { keep.formUnion(reachableDigests(uri: app.uri)) }
        let keepHex = Set(keep.filter { $0.algorithm == .sha256 }.map(\.hex))
        var report = PruneReport(keptApps: referenced.sorted { ($0.name, $0.uri) < ($1.name, $1.uri) },
                                 removedBundles: 0, removedBlobs: 0, removedPartials: 0, freedBytes: 0)

        for name in try AppFiles.list(bundlesDirectory) where !keepHex.contains(name) {
            let path = "\(bundlesDirectory)/\(name)"
            report.freedBytes += AppFiles.treeSize(path)
            try AppFiles.removeTree(path)
            report.removedBundles += 1
        }
        for name in try AppFiles.list(temporaryDirectory) {
            let path = "\(temporaryDirectory)/\(name)"
            report.freedBytes += AppFiles.treeSize(path)
            try AppFiles.removeTree(path)
        }
        for algorithm in DigestAlgorithmName.all {
            let directory = "\(root)/blobs/\(algorithm)"
            for name in try AppFiles.list(directory) {
                guard let digest = try? OCIDigest(parsing: "\(algorithm):\(name)"), keep.contains(digest) else {
                    let path = "\(directory)/\(name)"
                    report.freedBytes += AppFiles.size(of: path) ?? 0
                    try AppFiles.removeTree(path)
                    report.removedBlobs += 1
                    continue
                }
            }
        }
        // Partials are `ingest/<algorithm>-<hex>.partial` (BlobStore).
        let ingest = "\(root)/ingest"
        for name in try AppFiles.list(ingest) {
            let stem = name.hasSuffix(".partial") ? String(name.dropLast(".partial".count)) : name
            let parsed = stem.firstIndex(of: "-").flatMap { dash in
                try? OCIDigest(parsing: "\(stem[..<dash]):\(stem[stem.index(after: dash)...])")
            }
            if let parsed, keep.contains(parsed) { continue }
            let path = "\(ingest)/\(name)"
            report.freedBytes += AppFiles.size(of: path) ?? 0
            try AppFiles.removeTree(path)
            report.removedPartials += 1
        }
        state.fetched = state.fetched.filter { referenced.contains($0) }
        try writeState(state)
        return report
    }
}

enum DigestAlgorithmName {
    static let all = ["sha256", "sha512"]
}
