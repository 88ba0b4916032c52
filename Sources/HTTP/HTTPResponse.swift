/// Status line and header fields of a response: what is known before the body.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPHeaders
    /// The URL that answered (after redirects).
    public var url: String

    public init(status: Int, headers: HTTPHeaders, url: String) {
        self.status = status
        self.headers = headers
        self.url = url
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// What happened on the wire for one call, over all its attempts.
public struct HTTPTransferMetrics: Sendable, Equatable {
    /// Attempts made (1 when the first one settled the call).
    public var attempts: Int = 0
    /// New connections libcurl opened for this call (`CURLINFO_NUM_CONNECTS`, summed over the
    /// attempts); 0 means every attempt reused a connection kept by the client.
    public var connectionsOpened: Int = 0
    /// Response body bytes received from the network, summed over the attempts.
    public var bodyBytesReceived: Int64 = 0
    /// For downloads and sinks: the offset the last attempt resumed from (its `Range` start
    /// accepted by the server with 206), 0 when it transferred the whole body.
    public var resumedFrom: Int64 = 0

    public init() {}
}

public struct HTTPResponse: Sendable {
    public var method: HTTPMethod
    public var head: HTTPResponseHead
    /// The body when the call collected it in memory (`HTTPClient.send`); empty for downloads
    /// and sinks, and for responses without a body.
    public var body: [UInt8]
    public var metrics: HTTPTransferMetrics

    public init(method: HTTPMethod, head: HTTPResponseHead, body: [UInt8], metrics: HTTPTransferMetrics) {
        self.method = method
        self.head = head
        self.body = body
        self.metrics = metrics
    }

    public var status: Int { head.status }
    public var headers: HTTPHeaders { head.headers }
    public var url: String { head.url }
    public var isSuccess: Bool { head.isSuccess }

    /// The response itself when its status is 2xx, or an `HTTPError` of kind `.status` naming
    /// the method, URL and status (with the start of the body, which often says why).
    @discardableResult
    public func requireSuccess() throws(HTTPError) -> HTTPResponse {
        guard isSuccess else {
            throw HTTPError(kind: .status(status), method: method, url: url,
                            message: HTTPError.reasonPhrase(status), response: head,
                            bodyExcerpt: Array(body.prefix(HTTPError.bodyExcerptLimit)), attempts: metrics.attempts)
        }
        return self
    }
}

/// Progress of one call. `received` counts body bytes the destination holds, including those it
/// already had when a download resumed, so it never goes backwards across resumed attempts
/// (it does restart at 0 when the server ignores `Range` and the body starts over).
public struct HTTPProgress: Sendable, Equatable {
    public var received: Int64
    /// The whole body's size when the server said it (`Content-Length`, `Content-Range`).
    public var expected: Int64?
    public var sent: Int64
    public var toSend: Int64?

    public init(received: Int64, expected: Int64?, sent: Int64, toSend: Int64?) {
        self.received = received
        self.expected = expected
        self.sent = sent
        self.toSend = toSend
    }
}

/// Called on the client's transfer thread, often; keep it short and non-blocking.
public typealias HTTPProgressHandler = @Sendable (HTTPProgress) -> Void
