/// What failed, on which URL, and what to try next.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The URL or a header is malformed, or the scheme is not http/https.
        case invalidRequest
        /// The host name (or the proxy's) did not resolve.
        case couldNotResolveHost
        /// No connection could be established (refused, unreachable).
        case couldNotConnect
        /// Connect timeout, stall (below the low-speed limit for too long), or the transfer timeout.
        case timedOut
        /// The connection broke mid-way (reset, closed early, body shorter than announced).
        case connectionLost
        /// TLS handshake or verification failed: server certificate not trusted by the CA bundle,
        /// client certificate missing or refused, unreadable certificate/key files, pin mismatch.
        case tls
        case tooManyRedirects
        /// The server answered with a status that is not 2xx (downloads and sinks; `send` returns
        /// such responses, see `HTTPResponse.requireSuccess()`).
        case status(Int)
        /// The body is larger than the caller allowed (endless-data protection).
        case bodyTooLarge(limit: Int64)
        /// The server broke the protocol, e.g. a 206 for another range than asked.
        case protocolViolation
        /// The request body file or the download file could not be read or written.
        case fileSystem(errno: Int32)
        /// A body sink threw; `underlying` holds its error.
        case sink
        /// Any other libcurl failure; the code is libcurl's `CURLcode` number.
        case transport(curlCode: Int)
    }

    public var kind: Kind
    public var method: HTTPMethod
    public var url: String
    /// libcurl's error text (`CURLOPT_ERRORBUFFER`), or the client's own explanation.
    public var message: String
    /// Status and headers when a response arrived (e.g. `WWW-Authenticate` on a 401).
    public var response: HTTPResponseHead?
    /// The start of an error response's body.
    public var bodyExcerpt: [UInt8]
    /// The error a body sink threw, when `kind == .sink`.
    public var underlying: (any Error)?
    /// Attempts made before giving up.
    public var attempts: Int

    public init(kind: Kind, method: HTTPMethod, url: String, message: String,
                response: HTTPResponseHead? = nil, bodyExcerpt: [UInt8] = [],
                underlying: (any Error)? = nil, attempts: Int = 1) {
        self.kind = kind
        self.method = method
        self.url = url
        self.message = message
        self.response = response
        self.bodyExcerpt = bodyExcerpt
        self.underlying = underlying
        self.attempts = attempts
    }

    /// The HTTP status when the failure is an error status.
    public var status: Int? {
        if case .status(let code) = kind { return code }
        return nil
    }

    public var description: String {
        var text = "\(method) \(url) failed: \(message)"
        if case .status = kind, !bodyExcerpt.isEmpty {
            let excerpt = String(decoding: bodyExcerpt.prefix(200), as: UTF8.self)
                .split(whereSeparator: \.isNewline).joined(separator: " ")
            text += " (server said: \(excerpt))"
        }
        if attempts > 1 { text += " after \(attempts) attempts" }
        if let nextStep { text += "; \(nextStep)" }
        return text
    }

    /// What the person at the console should try.
    public var nextStep: String? {
        switch kind {
        case .couldNotResolveHost:
            return "check the host name, DNS, and the proxy settings (http_proxy, https_proxy, no_proxy)"
        case .couldNotConnect:
            return "check that the server is up and reachable from the device, and the proxy settings (http_proxy, https_proxy, no_proxy)"
        case .timedOut:
            return "the network is slow or stalled; the next run resumes downloads from where they stopped"
        case .connectionLost:
            return "the connection broke; the next run resumes downloads from where they stopped"
        case .tls:
            return "check the CA bundle, the client certificate and key paths, and the device clock (certificates have validity dates)"
        case .status(401), .status(403):
            return "check the device's credentials (client certificate or token) and its permissions on the server"
        case .status(404):
            return "check the URL; the server does not have this resource"
        case .status(let code) where code >= 500:
            return "the server failed; try again later"
        case .bodyTooLarge:
            return "the server sent more than allowed; it may be misconfigured or malicious"
        case .fileSystem:
            return "check free space and permissions of the destination"
        default:
            return nil
        }
    }

    static let bodyExcerptLimit = 4096

    static func reasonPhrase(_ status: Int) -> String {
        let phrases: [Int: String] = [
            400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
            412: "Precondition Failed", 413: "Content Too Large", 416: "Range Not Satisfiable",
            429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
        ]
        return "server answered \(status)" + (phrases[status].map { " \($0)" } ?? "")
    }
}
