/// An HTTP method. The common ones are static members; any other token can be used too.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public static let get = HTTPMethod(rawValue: "GET")
    public static let head = HTTPMethod(rawValue: "HEAD")
    public static let post = HTTPMethod(rawValue: "POST")
    public static let put = HTTPMethod(rawValue: "PUT")
    public static let patch = HTTPMethod(rawValue: "PATCH")
    public static let delete = HTTPMethod(rawValue: "DELETE")

    /// RFC 9110 §9.2.2: repeating the request has the same effect as sending it once.
    public var isIdempotent: Bool { self != .post && self != .patch }

    public var description: String { rawValue }
}

/// What a request sends after its header.
public enum HTTPRequestBody: Sendable, Equatable {
    /// Bytes held in memory.
    case bytes([UInt8])
    /// The whole content of a file, read chunk by chunk while it is sent (never all in memory).
    /// The file is opened anew for every attempt, so retries resend it from the start.
    case file(path: String)
    /// Whatever can be read from an open file descriptor until end of file: the read end of a
    /// pipe that another thread fills (a tar built while it uploads), sent in chunks as it comes
    /// (`Transfer-Encoding: chunked`), never held in memory. The caller keeps ownership of the
    /// descriptor and closes it after the call. Such a body can be read once, so the request is
    /// never retried. Reads block the client's transfer thread while the producer is behind:
    /// give such uploads a client of their own when other transfers must not wait.
    case stream(fileDescriptor: Int32)

    /// Whether the body can be sent again from its start (a retry, a redirect).
    var isRepeatable: Bool {
        if case .stream = self { return false }
        return true
    }
}

public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// An absolute `http://` or `https://` URL.
    public var url: String
    public var headers: HTTPHeaders
    public var body: HTTPRequestBody?
    /// Follow 3xx redirects (up to `HTTPClient.Configuration.maxRedirects`). Registries redirect
    /// blob downloads to storage, so this is on by default. libcurl drops `Authorization` when a
    /// redirect leads to another host.
    public var followRedirects: Bool
    /// Whether transient failures of this request may be retried. Defaults to the method's
    /// idempotency; a non-idempotent request is still retried when it surely never reached the
    /// server (connection refused, name not resolved) or the server said 429 / 503.
    public var isRetryable: Bool

    public init(method: HTTPMethod = .get, url: String, headers: HTTPHeaders = [:],
                body: HTTPRequestBody? = nil, followRedirects: Bool = true, isRetryable: Bool? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.followRedirects = followRedirects
        self.isRetryable = isRetryable ?? method.isIdempotent
    }
}
