import COSTree
import FoundationEssentials
import OtterCrypto

/// What to pull: one commit, pinned by checksum (from verified TUF metadata), from a remote.
public struct PullRequest: Sendable {
    /// A remote configured in the repo (see `Repo.addRemote`).
    public var remote: String
    /// The commit checksum to fetch (`override-commit-ids`): the server's refs are never trusted.
    public var commit: String
    /// The local ref written as `remote:ref` once the pull completes.
    public var ref: String
    /// A local commit to use as the static-delta source, typically the booted deployment's.
    /// Nil: the commit `remote:ref` points to now.
    public var deltaBase: String?
    /// Keys one of which must have signed the commit; checked after only the commit object has
    /// arrived, before any content is fetched. Keys configured on the remote are added to these.
    public var trustedKeys: [Ed25519PublicKey]
    public var useStaticDeltas: Bool
    /// libostree's own retries of a failed request (`n-network-retries`).
    public var networkRetries: UInt32
    /// A transfer slower than this many bytes per second for `lowSpeedTimeSeconds` is a failure,
    /// never an endless hang.
    public var lowSpeedLimitBytes: UInt32
    public var lowSpeedTimeSeconds: UInt32
    public var httpHeaders: [HTTPHeader]

    public struct HTTPHeader: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public init(remote: String, commit: String, ref: String = "otter/os", deltaBase: String? = nil,
                trustedKeys: [Ed25519PublicKey] = [], useStaticDeltas: Bool = true, networkRetries: UInt32 = 5,
                lowSpeedLimitBytes: UInt32 = 1024, lowSpeedTimeSeconds: UInt32 = 30, httpHeaders: [HTTPHeader] = []) {
        self.remote = remote
        self.commit = commit
        self.ref = ref
        self.deltaBase = deltaBase
        self.trustedKeys = trustedKeys
        self.useStaticDeltas = useStaticDeltas
        self.networkRetries = networkRetries
        self.lowSpeedLimitBytes = lowSpeedLimitBytes
        self.lowSpeedTimeSeconds = lowSpeedTimeSeconds
        self.httpHeaders = httpHeaders
    }
}

/// A snapshot of a running pull, read from libostree's `OstreeAsyncProgress`.
public struct PullProgress: Sendable, Equatable, Codable {
    public enum Phase: String, Sendable, Codable {
        /// Fetching the commit object and its detached metadata (signatures).
        case commit
        /// Fetching the tree: objects or static-delta parts.
        case content
        case done
    }

    public var phase: Phase
    public var bytesTransferred: UInt64
    public var objectsFetched: UInt32
    public var objectsRequested: UInt32
    public var metadataFetched: UInt32
    public var deltaPartsFetched: UInt32
    public var deltaPartsTotal: UInt32
    /// Compressed size of all delta parts: the bytes a delta pull will transfer.
    public var deltaBytesTotal: UInt64
    public var elapsedSeconds: Double
    public var bytesPerSecond: Double

    /// Bytes the pull is expected to transfer, known when a static delta is used.
    public var expectedBytes: UInt64? { deltaBytesTotal > 0 ? deltaBytesTotal : nil }

    /// Seconds left at the current rate, when the total is known.
    public var etaSeconds: Double? {
        guard let total = expectedBytes, bytesPerSecond > 0, total >= bytesTransferred else { return nil }
        return Double(total - bytesTransferred) / bytesPerSecond
    }

    /// One monotonic fraction in 0...1 when the total is known (delta bytes, or objects).
    public var fraction: Double? {
        if phase == .done { return 1 }
        if let total = expectedBytes { return min(1, Double(bytesTransferred) / Double(total)) }
        if objectsRequested > 0 { return min(1, Double(objectsFetched) / Double(objectsRequested)) }
        return nil
    }
}

public struct PullResult: Sendable, Equatable, Codable {
    public var commit: String
    /// The local ref now pointing at the commit (`remote:ref`).
    public var ref: String
    public var bytesTransferred: UInt64
    public var objectsFetched: UInt32
    public var usedStaticDelta: Bool
    public var seconds: Double
    /// The trusted key (base64) whose signature was verified, when keys were given.
    public var verifiedBy: String?
}

/// A pull in flight: its progress as an `AsyncStream`, and its result.
public final class PullOperation: Sendable {
    public let progress: AsyncStream<PullProgress>
    let task: Task<PullResult, Error>

    init(progress: AsyncStream<PullProgress>, task: Task<PullResult, Error>) {
        self.progress = progress
        self.task = task
    }

    public func result() async throws -> PullResult { try await task.value }

    /// Cancels the transfer; `result()` then throws a cancellation error.
    public func cancel() { task.cancel() }
}

/// A GCancellable that Swift task cancellation triggers. g_cancellable_cancel is thread-safe.
final class Cancellable: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<GCancellable> = g_cancellable_new()
    func cancel() { g_cancellable_cancel(pointer) }
    deinit { costree_object_unref(pointer) }
}

extension Repo {
    /// Starts a pull; read `progress` for updates and `result()` for the outcome.
    public func startPull(_ request: PullRequest) -> PullOperation {
        let (stream, continuation) = AsyncStream<PullProgress>.makeStream(bufferingPolicy: .bufferingNewest(8))
        let task = Task { () throws -> PullResult in
            defer { continuation.finish() }
            return try await self.pull(request) { continuation.yield($0) }
        }
        return PullOperation(progress: stream, task: task)
    }

    /// Pulls `request.commit`: first the commit object and its signatures, which are verified
    /// when keys are given, then the content, by static delta when the server has one.
    ///
    /// Pulling the commit first also works around libostree 2022.7 fetching changed objects one
    /// by one next to a static delta (ostreedev/ostree#2053): with the commit already local, the
    /// second pass transfers only the delta.
    public func pull(_ request: PullRequest, progress: (@Sendable (PullProgress) -> Void)? = nil) async throws -> PullResult {
        let remote = try await self.remote(named: request.remote)
        let context = "pulling commit \(request.commit) from \(remote.url)"
        guard request.commit.count == 64, Hex.decode(request.commit) != nil else {
            throw OSTreeError(message: "'\(request.commit)' is not a 64-character commit checksum", context: context)
        }
        var keys = request.trustedKeys
        for key in remote.verificationKeys { keys.append(try Ed25519PublicKey(base64: key)) }
        if let file = remote.verificationKeyFile { keys += try CommitSignature.loadTrustedKeys(files: [file]) }
        let trusted = keys
        if remote.requiresSignature && trusted.isEmpty {
            throw OSTreeError(message: "remote \(remote.name) requires signed commits but no key could be loaded", context: context)
        }

        let started = ContinuousClock.now
        let cancellable = Cancellable()
        return try await withTaskCancellationHandler {
            // Pass 1: the commit object and its detached metadata only, by checksum (no ref, so no
            // ref-binding check yet: the commit tells which refs it is bound to).
            let first = try await runPass(request, ref: nil, flags: OSTREE_REPO_PULL_FLAGS_COMMIT_ONLY, base: nil, phase: .commit,
                                  started: started, cancellable: cancellable, progress: progress, context: context)
            // libostree refuses a ref the commit is not bound to (`ostree.ref-binding`); the
            // checksum comes from signed metadata, so pull under a ref the commit accepts.
            let bindings = try await queue.run { try self.refBindingsNow(request.commit) }
            let ref = bindings.isEmpty || bindings.contains(request.ref) ? request.ref : bindings[0]
            let base = try await queue.run { () -> String? in
                if let deltaBase = request.deltaBase, let found = try self.resolveNow(deltaBase) { return found }
                return try self.resolveNow("\(request.remote):\(ref)")
            }
            var verifiedBy: String?
            if !trusted.isEmpty {
                do {
                    verifiedBy = try await queue.run { try self.verifySignatureNow(of: request.commit, trustedKeys: trusted).base64 }
                } catch {
                    // An untrusted commit must never become deployable: drop it and the ref.
                    try? await queue.run { try self.deleteCommitNow(request.commit) }
                    let reason = (error as? OSTreeError)?.message ?? "\(error)"
                    throw OSTreeError(message: "\(reason); nothing was pulled", context: context)
                }
            }
            // Pass 2: the content, from the delta base.
            let last = try await runPass(request, ref: ref, flags: OSTREE_REPO_PULL_FLAGS_NONE, base: base, phase: .content,
                                         started: started, cancellable: cancellable, progress: progress, context: context)
            let commit = try await self.commit(request.commit)
            guard !commit.isPartial else {
                throw OSTreeError(message: "the pull ended but commit \(request.commit) is still partial", context: context)
            }
            var done = last
            done.phase = .done
            progress?(done)
            done.bytesTransferred += first.bytesTransferred
            return PullResult(commit: request.commit, ref: "\(request.remote):\(ref)", bytesTransferred: done.bytesTransferred,
                              objectsFetched: last.objectsFetched + first.objectsFetched,
                              usedStaticDelta: last.deltaPartsTotal > 0, seconds: seconds(since: started), verifiedBy: verifiedBy)
        } onCancel: {
            cancellable.cancel()
        }
    }

    /// One `ostree_repo_pull_with_options` call, with progress polled while it runs.
    private func runPass(_ request: PullRequest, ref: String?, flags: OstreeRepoPullFlags, base: String?, phase: PullProgress.Phase,
                         started: ContinuousClock.Instant, cancellable: Cancellable,
                         progress: (@Sendable (PullProgress) -> Void)?, context: String) async throws -> PullProgress {
        let ostreeProgress = GObjectBox(owning: ostree_async_progress_new())
        // libostree 2022.7 ignores `low-speed-limit-bytes`/`-time-seconds` (a stalled server hangs
        // the pull for minutes), so Otter watches the byte count itself and cancels a stall.
        let stall = StallWatch(bytesPerSecond: request.lowSpeedLimitBytes, seconds: request.lowSpeedTimeSeconds)
        let reporter = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                if Task.isCancelled { break }
                let snapshot = Self.snapshot(ostreeProgress, phase: phase, started: started)
                if stall.observe(snapshot.bytesTransferred) { cancellable.cancel() }
                progress?(snapshot)
            }
        }
        defer { reporter.cancel() }
        do {
            try await runPassCall(request, ref: ref, flags: flags, base: base, ostreeProgress: ostreeProgress,
                                  cancellable: cancellable, context: context)
        } catch let error as OSTreeError where error.isCancelled && stall.stalled {
            throw OSTreeError(domain: error.domain, code: error.code,
                              message: "the transfer stalled (under \(request.lowSpeedLimitBytes) bytes/s for \(request.lowSpeedTimeSeconds) s) and was stopped; what was fetched is kept, so pulling again resumes",
                              context: context)
        }
        return Self.snapshot(ostreeProgress, phase: phase, started: started)
    }

    private func runPassCall(_ request: PullRequest, ref: String?, flags: OstreeRepoPullFlags, base: String?,
                             ostreeProgress: GObjectBox, cancellable: Cancellable, context: String) async throws {
        try await queue.run {
            // libostree takes the delta source from the local ref `remote:ref`.
            if let ref, let base { try self.setRefNow(ref, to: base, remote: request.remote) }
            var options: [(String, VariantValue)] = [("flags", .int32(Int32(flags.rawValue)))]
            if let ref {
                options += [("refs", .strings([ref])), ("override-commit-ids", .strings([request.commit]))]
            } else {
                options += [("refs", .strings([request.commit]))]
            }
            options += [
                ("n-network-retries", .uint32(request.networkRetries)),
                ("low-speed-limit-bytes", .uint32(request.lowSpeedLimitBytes)),
                ("low-speed-time-seconds", .uint32(request.lowSpeedTimeSeconds)),
                ("disable-static-deltas", .bool(!request.useStaticDeltas)),
                // Otter verifies ed25519 itself (above); libostree here cannot.
                ("disable-sign-verify", .bool(true)),
                ("disable-sign-verify-summary", .bool(true)),
                ("update-frequency", .uint32(100)),
            ]
            if !request.httpHeaders.isEmpty {
                options.append(("http-headers", .headers(request.httpHeaders.map { ($0.name, $0.value) })))
            }
            let variant = GVariantBox(sinking: makeVardict(options))
            // Each pull iterates a main context of its own, so pulls on several repos don't share one.
            let mainContext = g_main_context_new()
            g_main_context_push_thread_default(mainContext)
            defer {
                g_main_context_pop_thread_default(mainContext)
                g_main_context_unref(mainContext)
            }
            try withExtendedLifetime((variant, ostreeProgress, cancellable)) { () throws(OSTreeError) in
                try gcall(context) {
                    ostree_repo_pull_with_options(self.pointer, request.remote, variant.pointer, ostreeProgress.pointer,
                                                  cancellable.pointer, $0).isTrue
                }
            }
        }
    }

    private static func snapshot(_ box: GObjectBox, phase: PullProgress.Phase, started: ContinuousClock.Instant) -> PullProgress {
        box.withPointer { p in snapshot(p, phase: phase, started: started) }
    }

    private static func snapshot(_ p: OpaquePointer, phase: PullProgress.Phase, started: ContinuousClock.Instant) -> PullProgress {
        let seconds = seconds(since: started)
        let bytes = UInt64(ostree_async_progress_get_uint64(p, "bytes-transferred"))
        return PullProgress(
            phase: phase, bytesTransferred: bytes,
            objectsFetched: ostree_async_progress_get_uint(p, "fetched"),
            objectsRequested: ostree_async_progress_get_uint(p, "requested"),
            metadataFetched: ostree_async_progress_get_uint(p, "metadata-fetched"),
            deltaPartsFetched: ostree_async_progress_get_uint(p, "fetched-delta-parts"),
            deltaPartsTotal: ostree_async_progress_get_uint(p, "total-delta-parts"),
            deltaBytesTotal: UInt64(ostree_async_progress_get_uint64(p, "total-delta-part-size")),
            elapsedSeconds: seconds,
            bytesPerSecond: seconds > 0 ? Double(bytes) / seconds : 0)
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Decides that a transfer stalled: fewer than `bytesPerSecond × seconds` bytes arrived in the
/// last `seconds` seconds.
final class StallWatch: @unchecked Sendable {
    private let minimumBytes: UInt64
    private let window: Duration
    private var anchor: (at: ContinuousClock.Instant, bytes: UInt64)?
    private(set) var stalled = false

    init(bytesPerSecond: UInt32, seconds: UInt32) {
        minimumBytes = UInt64(bytesPerSecond) * UInt64(seconds)
        window = .seconds(Int(seconds))
    }

    /// Feeds the current byte count; true once the transfer counts as stalled.
    func observe(_ bytes: UInt64, now: ContinuousClock.Instant = .now) -> Bool {
        guard minimumBytes > 0, !stalled else { return stalled }
        guard let anchor else {
            self.anchor = (now, bytes)
            return false
        }
        if now - anchor.at >= window {
            if bytes &- anchor.bytes < minimumBytes { stalled = true } else { self.anchor = (now, bytes) }
        }
        return stalled
    }
}
