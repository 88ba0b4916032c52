import HTTP

/// `TUFTransport` over Otter's libcurl client. One `HTTPClient` serves the whole session, so
/// sequential requests to the repository reuse one connection. TUF wants no retries by default
/// (the conformance contract counts requests); devices can pass a retry policy.
public struct HTTPTransport: TUFTransport {
    public let client: HTTPClient
    /// Sent with every request (a device gateway reads `x-ats-tags`, `x-ats-target`, …).
    public var headers: HTTPHeaders

    public init(client: HTTPClient, headers: HTTPHeaders = [:]) {
        self.client = client
        self.headers = headers
    }

    public init(retry: HTTPClient.RetryPolicy = .none) {
        var configuration = HTTPClient.Configuration()
        configuration.retry = retry
        self.init(client: HTTPClient(configuration: configuration))
    }

    public func fetch(_ url: String, maxLength: Int) async throws(TUFTransportError) -> [UInt8] {
        let sink = BoundedBody(limit: maxLength)
        do {
            _ = try await client.stream(HTTPRequest(method: .get, url: url, headers: headers), to: sink)
        } catch let error as HTTPError {
            if sink.overflowed { throw .tooLarge(url: url, limit: maxLength) }
            if case .bodyTooLarge = error.kind { throw .tooLarge(url: url, limit: maxLength) }
            if case .status(let code) = error.kind, code == 404 || code == 403 { throw .notFound(url: url) }
            throw .failed(url: url, message: error.description)
        } catch {
            if sink.overflowed { throw .tooLarge(url: url, limit: maxLength) }
            throw .failed(url: url, message: "\(error)")
        }
        return sink.body
    }
}

/// Collects a body in one buffer sized from `Content-Length` (so a 10 MB targets file is not
/// reallocated and copied while it arrives), and stops the transfer past `limit`.
private final class BoundedBody: HTTPBodySink {
    struct Overflow: Error {}
    let limit: Int
    var body: [UInt8] = []
    var overflowed = false

    init(limit: Int) { self.limit = limit }

    func begin(_ head: HTTPResponseHead, at offset: Int64) throws {
        body.removeAll(keepingCapacity: true)
        if let text = head.headers["Content-Length"], let length = Int(text) {
            guard length <= limit else {
                overflowed = true
                throw Overflow()
            }
            body.reserveCapacity(length)
        }
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard body.count + chunk.count <= limit else {
            overflowed = true
            throw Overflow()
        }
        body.append(contentsOf: chunk.bindMemory(to: UInt8.self))
    }
}
