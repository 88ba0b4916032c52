import Bootloader
import FoundationEssentials
import Logging
import NIOCore
import OCI
import OtterCrypto
import Synchronization

/// What `FirmwareService` serves from and how often it asks the registry.
public struct FirmwareConfiguration: Sendable {
    public var registry: FirmwareRegistry
    /// The cosign public key every served firmware must be signed with.
    public var cosignPublicKey: ECDSAP256PublicKey
    public var cacheDirectory: String
    public var pollInterval: Duration
    /// Serve `1.1.0-rc.1` over `1.0.0` (off: pre-release tags are ignored).
    public var includePreReleases: Bool

    public init(registry: FirmwareRegistry, cosignPublicKey: ECDSAP256PublicKey, cacheDirectory: String,
                pollInterval: Duration = .seconds(60), includePreReleases: Bool = false) {
        self.registry = registry
        self.cosignPublicKey = cosignPublicKey
        self.cacheDirectory = cacheDirectory
        self.pollInterval = pollInterval
        self.includePreReleases = includePreReleases
    }
}

/// A verified binary ready to send, from memory (MCU images are small; a served file is never
/// one still being written).
public struct ServedFirmware: Sendable {
    public var release: FirmwareRelease
    public var binary: ByteBuffer
    /// Set when the registry could not be asked and this is the cached copy: why.
    public var staleReason: String?

    /// A strong validator: the layer digest.
    public var etag: String { "\"\(release.layerDigest.hex)\"" }
}

/// What a device asking for its firmware gets.
public enum FirmwareLookup: Sendable {
    case available(ServedFirmware)
    /// No repository for the device, or no release tag in it.
    case unknownDevice(String)
    /// The newest release failed verification (unsigned, wrong key, other digest, corrupt): none is served.
    case refused(String)
    /// The registry cannot be asked and nothing is cached.
    case unavailable(String)
}

/// The newest verified firmware per device: a table in memory in front of the on-disk cache,
/// refreshed by polling each known device's tag list, with one registry fetch per device at a
/// time however many requests wait for it (single flight).
public final class FirmwareService: Sendable {
    /// Registry traffic so far: what tests and operators check single flight with.
    public struct Statistics: Sendable, Equatable {
        public var tagListings = 0
        public var firmwareDownloads = 0
        public var downloadedBytes: Int64 = 0
    }

    public let configuration: FirmwareConfiguration
    let client: RegistryClient
    let cache: FirmwareCache
    let logger: Logger

    private struct Table {
        var states: [String: FirmwareLookup] = [:]
        var flights: [String: Task<FirmwareLookup, Never>] = [:]
    }
    private let table = Mutex(Table())
    private let counters = Mutex(Statistics())

    public init(configuration: FirmwareConfiguration, logger: Logger = FirmwareService.defaultLogger) throws {
        self.configuration = configuration
        self.logger = logger
        client = configuration.registry.client()
        cache = try FirmwareCache(root: configuration.cacheDirectory)
        var states: [String: FirmwareLookup] = [:]
        for device in cache.devices() {
            guard let (release, binary) = cache.load(device) else {
                logger.warning("firmware cache of \(device) is incomplete or does not match its metadata; it will be fetched again")
                continue
            }
            states[device] = .available(ServedFirmware(release: release, binary: ByteBuffer(bytes: binary)))
        }
        let loaded = states
        table.withLock { $0.states = loaded }
    }

    /// Notices (a version verified and cached) and up, on stderr.
    public static var defaultLogger: Logger {
        var logger = Logger(label: "otter-firmware")
        logger.logLevel = .notice
        return logger
    }

    public var statistics: Statistics { counters.withLock { $0 } }

    /// The firmware for `device`: from memory when known, else from the registry (joining a
    /// fetch already running for it).
    public func lookup(_ device: String) async -> FirmwareLookup {
        switch flight(for: device, force: false) {
        case .known(let state): return state
        case .fetching(let task): return await task.value
        }
    }

    /// Asks the registry again now (what the poller does), joining a fetch already running.
    @discardableResult
    public func refresh(_ device: String) async -> FirmwareLookup {
        switch flight(for: device, force: true) {
        case .known(let state): return state
        case .fetching(let task): return await task.value
        }
    }

    /// Refreshes every known device every `pollInterval` until cancelled.
    public func pollForever() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.pollInterval) } catch { return }
            let devices = table.withLock { Array($0.states.keys) }.sorted()
            for device in devices where !Task.isCancelled { await refresh(device) }
        }
    }

    /// Whether the registry answers its API root (200, or 401 asking for credentials) and the
    /// cache directory is usable; the reason when not.
    public func health() async -> (healthy: Bool, detail: String) {
        guard cache.isUsable else { return (false, "the firmware cache \(cache.root) is not readable and writable") }
        let url = configuration.registry.baseURL + "/v2/"
        do {
            let response = try await client.http.get(url, maxBodyBytes: 64 << 10)
            guard response.status == 200 || response.status == 401 else {
                return (false, "registry \(url) answered \(response.status)")
            }
        } catch {
            return (false, "registry \(url) is unreachable: \(error)")
        }
        return (true, "ok")
    }

    private enum Flight {
        case known(FirmwareLookup)
        case fetching(Task<FirmwareLookup, Never>)
    }

    /// The known state, or the one fetch for the device (started here when none runs): decided
    /// under one lock, so a request arriving as a fetch ends sees its result, not a second fetch.
    private func flight(for device: String, force: Bool) -> Flight {
        table.withLock { table in
            if let running = table.flights[device] { return .fetching(running) }
            let previous = table.states[device]
            if !force, let previous { return .known(previous) }
            let task = Task {
                let result = await self.resolve(device, previous: previous)
                self.table.withLock { table in
                    switch result {
                    case .available, .refused: table.states[device] = result
                    case .unknownDevice: table.states[device] = nil
                    case .unavailable: break
                    }
                    table.flights[device] = nil
                }
                return result
            }
            table.flights[device] = task
            return .fetching(task)
        }
    }

    // MARK: - Resolving a device's newest release

    private func resolve(_ device: String, previous: FirmwareLookup?) async -> FirmwareLookup {
        let repository = configuration.registry.repository(for: device)
        var cached: ServedFirmware?
        if case .available(let served) = previous { cached = served }
        let tags: [String]
        do {
            counters.withLock { $0.tagListings += 1 }
            tags = try await client.tags(of: repository)
        } catch OCIError.notFound {
            return .unknownDevice("no firmware repository \(repository.name) in registry \(repository.registry); publish one with `otter-factory firmware publish --device \(device)`")
        } catch {
            return unreachable(device, error, cached: cached, previous: previous)
        }
        guard let newest = SemanticVersion.newest(in: tags, includingPreReleases: configuration.includePreReleases) else {
            return .unknownDevice("firmware repository \(repository) has no release tag (MAJOR.MINOR.PATCH)")
        }
        do {
            let manifest = try await client.manifest(Reference(repository: repository, tag: newest.tag))
            if var cached, cached.release.manifestDigest == manifest.digest {
                cached.staleReason = nil
                cached.release.version = newest.tag
                return .available(cached)
            }
            let served = try await fetchVerified(manifest, tag: newest.tag, device: device, repository: repository)
            logger.notice("firmware \(newest.tag) (\(served.release.size) bytes, crc32 \(served.release.crc32)) of \(device) verified and cached")
            return .available(served)
        } catch let error as FirmwareError {
            if case .untrusted(let reason) = error { return refused(device, newest.tag, reason) }
            return unreachable(device, error, cached: cached, previous: previous)
        } catch let error as OCIError {
            switch error {
            case .digestMismatch, .sizeMismatch, .invalidManifest, .tooLarge:
                return refused(device, newest.tag, error.description)
            default:
                return unreachable(device, error, cached: cached, previous: previous)
            }
        } catch {
            return unreachable(device, error, cached: cached, previous: previous)
        }
    }

    private func refused(_ device: String, _ tag: String, _ reason: String) -> FirmwareLookup {
        let message = "firmware \(tag) of device \(device) is refused: \(reason); nothing is served to the device until a version signed with the configured cosign key is published"
        logger.error("\(message)")
        return .refused(message)
    }

    private func unreachable(_ device: String, _ error: any Error, cached: ServedFirmware?, previous: FirmwareLookup?) -> FirmwareLookup {
        let reason = "registry \(configuration.registry.host) could not be asked for \(device): \(error)"
        if var cached {
            logger.warning("\(reason); serving the cached firmware \(cached.release.version)")
            cached.staleReason = "registry unreachable; serving cached \(cached.release.version)"
            return .available(cached)
        }
        logger.error("\(reason); nothing is cached for it")
        if case .refused = previous { return previous! }
        return .unavailable(reason + "; nothing is cached for this device, try again later")
    }

    /// Checks the signature of `manifest`, downloads its one layer (digest-checked by the blob
    /// store), and caches it. Throws `.untrusted` for anything that must not be served.
    private func fetchVerified(_ manifest: Manifest, tag: String, device: String, repository: Repository) async throws -> ServedFirmware {
        guard let image = manifest.image else {
            throw FirmwareError.untrusted("\(repository):\(tag) is an index, not a firmware artifact (one manifest with one layer)")
        }
        guard image.layers.count == 1, let layer = image.layers.first else {
            throw FirmwareError.untrusted("\(repository):\(tag) has \(image.layers.count) layers; a firmware artifact has exactly one, the binary")
        }
        try await verifySignature(of: manifest.digest, repository: repository)
        let result = try await cache.blobs.fetch(layer, from: client, repository: repository)
        counters.withLock {
            $0.firmwareDownloads += result.alreadyStored ? 0 : 1
            $0.downloadedBytes += result.downloadedBytes
        }
        guard let data = FileManager.default.contents(atPath: cache.blobs.path(of: layer.digest)) else {
            throw FirmwareError.registry("the downloaded blob \(layer.digest) vanished from \(cache.blobs.root)")
        }
        let binary = [UInt8](data)
        let release = FirmwareRelease(device: device, version: tag, manifestDigest: manifest.digest, layerDigest: layer.digest,
                                      mediaType: layer.mediaType, size: Int64(binary.count), crc32: CRC32.checksum(binary))
        try cache.commit(release)
        return ServedFirmware(release: release, binary: ByteBuffer(bytes: binary))
    }

    private func verifySignature(of digest: OCIDigest, repository: Repository) async throws {
        let tag = CosignSignature.tag(for: digest)
        let signatures: Manifest
        do {
            signatures = try await client.manifest(Reference(repository: repository, tag: tag))
        } catch OCIError.notFound {
            throw FirmwareError.untrusted("it is not signed (no cosign signature \(repository):\(tag)); sign it with `otter-factory firmware sign`")
        }
        let layers = signatures.image?.layers.filter { $0.mediaType == CosignSignature.payloadMediaType } ?? []
        guard !layers.isEmpty else {
            throw FirmwareError.untrusted("\(repository):\(tag) holds no \(CosignSignature.payloadMediaType) layer")
        }
        var failures: [String] = []
        for layer in layers {
            guard layer.size <= 64 << 10 else {
                failures.append("a payload of \(layer.size) bytes is larger than any cosign payload")
                continue
            }
            _ = try await cache.blobs.fetch(layer, from: client, repository: repository)
            let path = cache.blobs.path(of: layer.digest)
            let payload = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
            try? cache.blobs.remove(layer.digest)
            do {
                try CosignSignature.verify(layer: layer, payload: payload, signs: digest, with: configuration.cosignPublicKey)
                return
            } catch {
                failures.append(error.description)
            }
        }
        throw FirmwareError.untrusted(failures.joined(separator: "; "))
    }
}
