import FoundationEssentials
import OCI
import Synchronization

/// The device's compose-app store (REFERENCE.md §2, containerd `content/local` layout):
///
///     <root>/blobs/sha256/<hex>     every verified blob: app manifests, bundles, image
///                                   indexes and manifests, configs, layers
///     <root>/ingest/…partial        downloads in progress (resumed with Range)
///     <root>/bundles/<hex>/         the unpacked bundle of the app whose manifest is <hex>
///     <root>/tmp/                   bundles being unpacked (renamed into bundles/ when the
///                                   whole app is fetched)
///     <root>/state.json             references (role → apps) and the fetched apps
///
/// An app is in the store when its manifest, bundle and every image blob are: `storedApp`
/// rebuilds it from disk alone. `prune` removes whatever no referenced app reaches.
public final class AppStore: Sendable {
    public static let defaultRoot = "/var/lib/otter/apps"

    public struct Configuration: Sendable {
        /// Bytes that must stay free on the store's volume after a fetch.
        public var reserveBytes: Int64
        /// Blob downloads at a time.
        public var maxConcurrentDownloads: Int
        /// The platform whose manifest is chosen from image indexes.
        public var platform: Platform

        public init(reserveBytes: Int64 = 16 << 20, maxConcurrentDownloads: Int = 4, platform: Platform = .current) {
            self.reserveBytes = reserveBytes
            self.maxConcurrentDownloads = maxConcurrentDownloads
            self.platform = platform
        }
    }

    public let root: String
    public let blobs: BlobStore
    public let configuration: Configuration

    /// Opens (and creates) the store at `root`.
    public init(root: String = AppStore.defaultRoot, configuration: Configuration = Configuration()) throws {
        self.root = root
        self.configuration = configuration
        blobs = try BlobStore(root: root)
        try AppFiles.makeDirectories(bundlesDirectory)
        try AppFiles.makeDirectories(temporaryDirectory)
    }

    var bundlesDirectory: String { "\(root)/bundles" }
    var temporaryDirectory: String { "\(root)/tmp" }
    var statePath: String { "\(root)/state.json" }

    /// Where the bundle of the app with this manifest digest is unpacked.
    public func bundleDirectory(for appDigest: OCIDigest) -> String { "\(bundlesDirectory)/\(appDigest.hex)" }

    func lock() throws -> StoreLock { try StoreLock(path: "\(root)/lock", root: root) }

    // MARK: - Fetch

    /// Progress of a fetch, over the whole app set.
    public struct FetchProgress: Sendable, Equatable {
        public enum Phase: Sendable, Equatable {
            /// Reading app manifests, bundles and image manifests.
            case resolving
            /// Image configs and layers.
            case blobs
            case done
        }

        public var phase: Phase
        public var apps: Int
        /// Bytes of image blobs held (stored, partial or downloaded so far) of `totalBytes`.
        public var completedBytes: Int64
        public var totalBytes: Int64
        public var completedBlobs: Int
        public var totalBlobs: Int
    }

    /// What a fetch did.
    public struct FetchReport: Sendable {
        public var apps: [StoredApp]
        /// Bytes that crossed the network: manifests, bundles and image blobs.
        public var downloadedBytes: Int64
        /// Image blobs downloaded (wholly or resumed) and already stored.
        public var downloadedBlobs: Int
        public var storedBlobs: Int
        /// The space check made before the first image blob byte.
        public var space: SpaceCheck
    }

    /// Fetches apps (`uri` = `registry/repo@sha256:<app manifest digest>`): each app manifest
    /// (checked to be compose-app v1), its bundle (unpacked, its compose file checked to pin
    /// every image by digest), and for every image the manifest (the device platform's entry of
    /// an index, the index kept too), the config and the layers. Everything is verified against
    /// its digest. Before the first image blob byte, the bytes still missing plus the reserve
    /// are checked against the free space. A bundle becomes visible in `bundles/` only once its
    /// whole app is stored; after a failure nothing of the app is visible (partial downloads stay
    /// in `ingest/` to resume). Anything already stored is read from disk, so a refetch sends no
    /// request at all.
    public func fetch(apps: [(name: String, uri: String)], from registry: RegistryClient,
                      progress: (@Sendable (FetchProgress) -> Void)? = nil) async throws -> FetchReport {
        let lock = try lock()
        defer { lock.release() }
        var plans: [AppPlan] = []
        var downloaded: Int64 = 0
        defer {
            for plan in plans { if let staged = plan.stagedBundle { try? AppFiles.removeTree(staged) } }
        }
        progress?(FetchProgress(phase: .resolving, apps: apps.count, completedBytes: 0, totalBytes: 0, completedBlobs: 0, totalBlobs: 0))
        for app in apps {
            let plan = try await resolve(name: app.name, uri: try AppURI(parsing: app.uri), registry: registry, downloaded: &downloaded)
            plans.append(plan)
        }

        var requests: [BlobStore.BlobRequest] = []
        for plan in plans {
            for image in plan.images {
                for blob in image.manifest.blobs { requests.append(.init(blob, from: image.reference.repository)) }
            }
        }
        let space = try blobs.requireSpace(for: requests.map(\.descriptor), reserveBytes: configuration.reserveBytes)
        let count = apps.count
        let results = try await blobs.fetchAll(requests, from: registry, maxConcurrent: configuration.maxConcurrentDownloads) { set in
            progress?(FetchProgress(phase: .blobs, apps: count, completedBytes: set.completedBytes, totalBytes: set.totalBytes,
                                    completedBlobs: set.completedBlobs, totalBlobs: set.totalBlobs))
        }
        downloaded += results.reduce(0) { $0 + $1.downloadedBytes }

        for index in plans.indices {
            guard let staged = plans[index].stagedBundle else { continue }
            let final = bundleDirectory(for: plans[index].uri.digest)
            if AppFiles.exists(final) {
                try AppFiles.removeTree(staged)
            } else {
                try AppFiles.rename(staged, final)
            }
            plans[index].stagedBundle = nil
        }
        try AppFiles.syncDirectory(bundlesDirectory)
        try recordFetched(apps.map { AppReference(name: $0.name, uri: $0.uri) })

        let stored = try apps.map { try storedApp(name: $0.name, uri: $0.uri) }
        var seen = Set<OCIDigest>()
        let unique = requests.map(\.descriptor).filter { seen.insert($0.digest).inserted }
        let total = unique.reduce(Int64(0)) { $0 + $1.size }
        progress?(FetchProgress(phase: .done, apps: count, completedBytes: total, totalBytes: total,
                                completedBlobs: unique.count, totalBlobs: unique.count))
        return FetchReport(apps: stored, downloadedBytes: downloaded,
                           downloadedBlobs: results.filter { !$0.alreadyStored }.count,
                           storedBlobs: results.filter(\.alreadyStored).count, space: space)
    }

    /// One app as resolved before its image blobs are fetched.
    struct AppPlan {
        var name: String
        var uri: AppURI
        var app: AppManifest
        /// The bundle unpacked in `tmp/`, to be renamed into `bundles/`; nil when it was there.
        var stagedBundle: String?
        var images: [ResolvedImage]
    }

    struct ResolvedImage {
        /// As the compose file writes it.
        var written: String
        var reference: Reference
        /// The platform image manifest.
        var manifest: ImageManifest
        var manifestDigest: OCIDigest
    }

    private func resolve(name: String, uri: AppURI, registry: RegistryClient, downloaded: inout Int64) async throws -> AppPlan {
        let what = "app \(name) (\(uri))"
        let manifest = try await manifest(uri.reference, what: what, limit: AppManifest.maxBytes, registry: registry, downloaded: &downloaded)
        let app = try AppManifest(manifest, what: what)
        let final = bundleDirectory(for: uri.digest)
        var staged: String?
        let compose: ComposeFile
        if AppFiles.isDirectory(final) {
            compose = try ComposeFile(directory: final)
        } else {
            var fetches = [app.bundle]
            if let meta = app.layersMeta { fetches.append(meta) }
            for blob in fetches {
                downloaded += try await blobs.fetch(blob, from: registry, repository: uri.repository).downloadedBytes
            }
            let directory = try AppFiles.makeTemporaryDirectory(in: temporaryDirectory, prefix: "\(uri.digest.hex.prefix(12))-")
            staged = directory
            do {
                compose = try AppBundle.unpack(blobs.path(of: app.bundle.digest), into: directory)
            } catch {
                try? AppFiles.removeTree(directory)
                throw error
            }
        }
        do {
            var images: [ResolvedImage] = []
            for (_, written, reference) in try compose.pinnedImages() where !images.contains(where: { $0.written == written }) {
                images.append(try await resolveImage(written, reference, registry: registry, downloaded: &downloaded))
            }
            return AppPlan(name: name, uri: uri, app: app, stagedBundle: staged, images: images)
        } catch {
            if let staged { try? AppFiles.removeTree(staged) }
            throw error
        }
    }

    private func resolveImage(_ written: String, _ reference: Reference, registry: RegistryClient?,
                              downloaded: inout Int64) async throws -> ResolvedImage {
        let what = "image \(written)"
        let top = try await manifest(reference, what: what, limit: nil, registry: registry, downloaded: &downloaded)
        var chosen = top
        if let index = top.index {
            chosen = try await manifest(try platformEntry(of: index, reference), what: what,
                                        limit: nil, registry: registry, downloaded: &downloaded)
        }
        guard let image = chosen.image else {
            throw OCIError.invalidManifest(what, reason: "the platform entry of its index is not an image manifest")
        }
        return ResolvedImage(written: written, reference: reference, manifest: image, manifestDigest: chosen.digest)
    }

    /// The device platform's manifest in an image index.
    func platformEntry(of index: ImageIndex, _ reference: Reference) throws(OCIError) -> Reference {
        guard let entry = index.manifest(for: configuration.platform) else {
            throw .noMatchingPlatform(repository: reference.repository.description, wanted: configuration.platform.description,
                                      available: index.manifests.compactMap { $0.platform?.description })
        }
        return Reference(repository: reference.repository, digest: entry.digest)
    }

    /// A manifest pinned by digest: from the store when it is there, else from the registry
    /// (verified by `RegistryClient.manifest`) and then stored. Without a registry, a missing
    /// manifest is `notFetched`.
    func manifest(_ reference: Reference, what: String, limit: Int64?, registry: RegistryClient?,
                  downloaded: inout Int64) async throws -> Manifest {
        if let stored = try storedManifest(reference, what: what, limit: limit) { return stored }
        guard let registry else { throw OCIError.notFound(what: "\(what) in the store") }
        let manifest = try await registry.manifest(reference)
        if let limit, Int64(manifest.bytes.count) > limit {
            throw OCIError.tooLarge(what: "manifest \(what)", limit: limit)
        }
        try blobs.store(manifest.bytes, as: manifest.descriptor)
        downloaded += Int64(manifest.bytes.count)
        return manifest
    }

    /// A manifest from the store, nil when it is not there.
    func storedManifest(_ reference: Reference, what: String, limit: Int64?) throws -> Manifest? {
        guard let digest = reference.digest, blobs.has(digest) else { return nil }
        let limits = Limits(manifestBytes: limit ?? Limits().manifestBytes)
        let bytes = try AppFiles.read(blobs.path(of: digest), limit: Int(limits.manifestBytes))
        guard digest.matches(bytes) else {
            throw OCIError.digestMismatch(what: "stored \(what)", expected: digest, actual: .sha256(of: bytes))
        }
        return try Manifest(bytes: bytes, what: what, limits: limits)
    }
}
