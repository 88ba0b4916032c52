/// The device's one HTTP client, over libcurl.
///
/// One client owns one libcurl multi handle driven by one dedicated thread (started with the
/// first request), so blocking network work never runs on Swift's cooperative pool, and the
/// multi handle's connection cache lets sequential requests to a host share one connection
/// (concurrent ones open more, or multiplex over HTTP/2). Keep one client per server identity
/// (TLS settings) and reuse it. The thread ends when the client is released.
///
/// Progress handlers and body sinks are called on that thread. Proxies come from the
/// environment by default (`Configuration.proxy`); TLS verification is on by default.
/// Cancelling the calling task aborts its transfer and throws `CancellationError`; every other
/// failure is an `HTTPError` naming the method, the URL, what failed and what to try.
public final class HTTPClient: Sendable {
    public let configuration: Configuration
    let engine: TransferEngine

    /// The default in-memory body limit of `send`: metadata and JSON documents, not blobs.
    public static let defaultMaxBodyBytes: Int64 = 16 << 20

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.engine = TransferEngine()
    }

    deinit {
        engine.shutdown()
    }

    /// New connections opened by this client so far (summed `CURLINFO_NUM_CONNECTS`); with
    /// connection reuse, sequential requests to one server leave it at 1.
    public var connectionsOpened: Int { engine.connectionsOpened }

    /// Sends the request and collects the response body in memory, failing with
    /// `.bodyTooLarge` as soon as it would pass `maxBodyBytes`. Returns the final response
    /// whatever its status (after retries of transient ones); see `HTTPResponse.requireSuccess()`.
    public func send(_ request: HTTPRequest, maxBodyBytes: Int64 = HTTPClient.defaultMaxBodyBytes,
                     progress: HTTPProgressHandler? = nil) async throws -> HTTPResponse {
        try await perform(request, destination: .memory(limit: maxBodyBytes), progress: progress)
    }

    public func get(_ url: String, headers: HTTPHeaders = [:],
                    maxBodyBytes: Int64 = HTTPClient.defaultMaxBodyBytes) async throws -> HTTPResponse {
        try await send(HTTPRequest(method: .get, url: url, headers: headers), maxBodyBytes: maxBodyBytes)
    }

    public func head(_ url: String, headers: HTTPHeaders = [:]) async throws -> HTTPResponse {
        try await send(HTTPRequest(method: .head, url: url, headers: headers), maxBodyBytes: 0)
    }

    /// Streams a 2xx response body into the file at `path`, never holding it in memory.
    ///
    /// With `resume`, an existing file is continued from its size (`Range: bytes=<size>-`);
    /// a 206 appends, a 200 rewrites the file from 0. Without it the file is truncated first.
    /// Retries after a broken transfer always continue from what this call already wrote.
    /// The file is fsynced before the call returns. A non-2xx status throws `.status`.
    public func download(_ request: HTTPRequest, to path: String, resume: Bool = true,
                         progress: HTTPProgressHandler? = nil) async throws -> HTTPResponse {
        let sink = try FileSink(path: path, resume: resume, method: request.method, url: request.url)
        defer { sink.close() }
        return try await perform(request, destination: .sink(UncheckedSink(sink)), progress: progress)
    }

    /// Streams a 2xx response body into `sink` chunk by chunk (see `HTTPBodySink`).
    /// A non-2xx status throws `.status`.
    public nonisolated(nonsending) func stream(_ request: HTTPRequest, to sink: some HTTPBodySink,
                                               progress: HTTPProgressHandler? = nil) async throws -> HTTPResponse {
        try await perform(request, destination: .sink(UncheckedSink(sink)), progress: progress)
    }
}
