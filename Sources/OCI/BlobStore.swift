import HTTP
import Synchronization

/// A content-addressed blob store in the layout containerd's `content/local` store uses
/// (REFERENCE.md §2): `blobs/<algorithm>/<hex>` for complete, verified blobs and
/// `ingest/<hex>.partial` for downloads in progress. A blob reaches `blobs/` only after its
/// size and digest were checked and its bytes fsynced; a mismatch deletes the bytes.
public final class BlobStore: Sendable {
    public let root: String

    /// Opens (and creates) the store at `root`.
    public init(root: String) throws(OCIError) {
        self.root = root
        for algorithm in ["sha256", "sha512"] { try StoreFiles.makeDirectories("\(root)/blobs/\(algorithm)") }
        try StoreFiles.makeDirectories("\(root)/ingest")
    }

    public func path(of digest: OCIDigest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    func ingestPath(of digest: OCIDigest) -> String {
        "\(root)/ingest/\(digest.algorithm.rawValue)-\(digest.hex).partial"
    }

    public func has(_ digest: OCIDigest) -> Bool {
        StoreFiles.size(of: path(of: digest)) != nil
    }

    /// Bytes of a partial download of the blob kept in `ingest/` (0 when there is none).
    public func partialSize(of digest: OCIDigest) -> Int64 {
        StoreFiles.size(of: ingestPath(of: digest)) ?? 0
    }

    /// Removes the blob and any partial download of it.
    public func remove(_ digest: OCIDigest) throws(OCIError) {
        try StoreFiles.remove(path(of: digest))
        try StoreFiles.remove(ingestPath(of: digest))
    }

    /// The bytes still to download for `descriptors` (each digest counted once): their sizes,
    /// less what is stored or partially downloaded. The input of a free-space check.
    public func missingBytes(for descriptors: [Descriptor]) -> Int64 {
        var seen = Set<OCIDigest>()
        var missing: Int64 = 0
        for descriptor in descriptors where seen.insert(descriptor.digest).inserted && !has(descriptor.digest) {
            missing += max(0, descriptor.size - min(partialSize(of: descriptor.digest), descriptor.size))
        }
        return missing
    }

    /// Stores bytes already in memory (a manifest) after checking them against `descriptor`.
    public func store(_ bytes: [UInt8], as descriptor: Descriptor) throws {
        let what = "blob \(descriptor.digest)"
        guard Int64(bytes.count) == descriptor.size else {
            throw OCIError.sizeMismatch(what: what, digest: descriptor.digest, expected: descriptor.size, actual: Int64(bytes.count))
        }
        guard descriptor.digest.matches(bytes) else {
            throw OCIError.digestMismatch(what: what, expected: descriptor.digest, actual: OCIDigest.sha256(of: bytes))
        }
        if has(descriptor.digest) { return }
        let partial = ingestPath(of: descriptor.digest)
        try StoreFiles.remove(partial)
        let writer = try IngestWriter(path: partial, descriptor: descriptor)
        try bytes.withUnsafeBytes { try writer.write($0) }
        try commit(writer)
    }

    /// What one fetch did.
    public struct FetchResult: Sendable, Equatable {
        public var digest: OCIDigest
        /// Body bytes that crossed the network for this blob (0 when it was already stored).
        public var downloadedBytes: Int64
        /// Where the download continued from a partial file (0: from the start).
        public var resumedFrom: Int64
        public var alreadyStored: Bool
    }

    /// Downloads the blob into the store unless it is there: into `ingest/` while hashing,
    /// resuming a partial file with `Range`, then verified, fsynced and renamed into `blobs/`.
    /// A digest or size mismatch deletes the bytes and throws with the expected and actual values.
    /// `progress` gets the bytes of this blob held so far.
    public func fetch(_ descriptor: Descriptor, from registry: RegistryClient, repository: Repository,
                      progress: (@Sendable (Int64) -> Void)? = nil) async throws -> FetchResult {
        let digest = descriptor.digest
        if has(digest) {
            progress?(descriptor.size)
            return FetchResult(digest: digest, downloadedBytes: 0, resumedFrom: 0, alreadyStored: true)
        }
        let what = "blob \(digest) of \(repository)"
        var downloaded: Int64 = 0
        // Twice at most: a complete but wrong partial file (a crash between write and rename
        // cannot cause that, a disk fault can) is dropped and fetched once from scratch.
        for round in 0..<2 {
            let writer = try IngestWriter(path: ingestPath(of: digest), descriptor: descriptor)
            let resumedFrom = writer.initialSize
            if !writer.isComplete {
                var handler: HTTPProgressHandler?
                if let progress { handler = { progress($0.received) } }
                let response = try await registry.fetchBlob(digest, from: repository, to: writer, progress: handler)
                downloaded += response.metrics.bodyBytesReceived
            }
            guard writer.written == descriptor.size else {
                let written = writer.written
                try discard(writer)
                throw OCIError.sizeMismatch(what: what, digest: digest, expected: descriptor.size, actual: written)
            }
            let actual = writer.finalDigest()
            guard actual == digest else {
                try discard(writer)
                if round == 0 && resumedFrom == descriptor.size { continue }
                throw OCIError.digestMismatch(what: what, expected: digest, actual: actual)
            }
            try commit(writer)
            progress?(descriptor.size)
            return FetchResult(digest: digest, downloadedBytes: downloaded, resumedFrom: resumedFrom, alreadyStored: false)
        }
        throw OCIError.digestMismatch(what: what, expected: digest, actual: digest)  // not reached
    }

    /// Progress of a `fetchAll`, over every blob of the set.
    public struct SetProgress: Sendable, Equatable {
        /// Bytes held (stored, partial, or downloaded so far) out of `totalBytes`.
        public var completedBytes: Int64
        public var totalBytes: Int64
        public var completedBlobs: Int
        public var totalBlobs: Int
    }

    /// One blob to fetch and the repository that serves it.
    public struct BlobRequest: Sendable, Hashable {
        public var descriptor: Descriptor
        public var repository: Repository

        public init(_ descriptor: Descriptor, from repository: Repository) {
            self.descriptor = descriptor
            self.repository = repository
        }
    }

    /// Fetches several blobs of one repository; see `fetchAll(_:from:maxConcurrent:progress:)`.
    public func fetchAll(_ descriptors: [Descriptor], from registry: RegistryClient, repository: Repository,
                         maxConcurrent: Int = 4,
                         progress: (@Sendable (SetProgress) -> Void)? = nil) async throws -> [FetchResult] {
        try await fetchAll(descriptors.map { BlobRequest($0, from: repository) }, from: registry,
                           maxConcurrent: maxConcurrent, progress: progress)
    }

    /// Fetches several blobs (of any repositories of the registry client), at most
    /// `maxConcurrent` at a time, with one aggregated progress value. Each digest is fetched
    /// once. The first failure cancels the others (their partial files stay, for resuming).
    public func fetchAll(_ requests: [BlobRequest], from registry: RegistryClient,
                         maxConcurrent: Int = 4,
                         progress: (@Sendable (SetProgress) -> Void)? = nil) async throws -> [FetchResult] {
        var seen = Set<OCIDigest>()
        let unique = requests.filter { seen.insert($0.descriptor.digest).inserted }
        let total = unique.reduce(Int64(0)) { $0 + $1.descriptor.size }
        struct State { var held: [OCIDigest: Int64] = [:]; var done = 0 }
        let state = Mutex(State())
        let report: @Sendable (OCIDigest, Int64, Bool) -> Void = { digest, held, finished in
            let snapshot = state.withLock { state in
                state.held[digest] = held
                if finished { state.done += 1 }
                return SetProgress(completedBytes: state.held.values.reduce(0, +), totalBytes: total,
                                   completedBlobs: state.done, totalBlobs: unique.count)
            }
            progress?(snapshot)
        }
        return try await withThrowingTaskGroup(of: FetchResult.self) { group in
            var results: [FetchResult] = []
            var next = 0
            func launch() {
                let request = unique[next]
                next += 1
                group.addTask {
                    let descriptor = request.descriptor
                    let result = try await self.fetch(descriptor, from: registry, repository: request.repository) { held in
                        report(descriptor.digest, held, false)
                    }
                    report(descriptor.digest, descriptor.size, true)
                    return result
                }
            }
            while next < unique.count && next < max(1, maxConcurrent) { launch() }
            while let result = try await group.next() {
                results.append(result)
                if next < unique.count { launch() }
            }
            let order = Dictionary(uniqueKeysWithValues: unique.enumerated().map { ($1.descriptor.digest, $0) })
            return results.sorted { order[$0.digest]! < order[$1.digest]! }
        }
    }

    private func commit(_ writer: IngestWriter) throws(OCIError) {
        try writer.sync()
        let final = path(of: writer.descriptor.digest)
        try StoreFiles.rename(writer.path, final)
        try StoreFiles.syncDirectory("\(root)/blobs/\(writer.descriptor.digest.algorithm.rawValue)")
    }

    private func discard(_ writer: IngestWriter) throws(OCIError) {
        try StoreFiles.remove(writer.path)
    }
}
