import HTTP

/// `TUFTransport` over Otter's libcurl client. One `HTTPClient` serves the whole session, so
/// sequential requests to the repository reuse one connection. TUF wants no retries by default
/// (the conformance contract counts requests); devices can pass a retry policy.
public struct HTTPTransport: TUFTransport {
    public let client: HTTPClient

    public init(client: HTTPClient) { self.client = client }

    public init(retry: HTTPClient.RetryPolicy = .none) {
        var configuration = HTTPClient.Configuration()
        configuration.retry = retry
        self.init(client: HTTPClient(configuration: configuration))
    }

    public func fetch(_ url: String, maxLength: Int) async throws(TUFTransportError) -> [UInt8] {
        let response: HTTPResponse
        do {
            response = try await client.get(url, maxBodyBytes: Int64(maxLength))
        } catch let error as HTTPError {
            if case .bodyTooLarge = error.kind { throw .tooLarge(url: url, limit: maxLength) }
            if case .status(let code) = error.kind, code == 404 || code == 403 { throw .notFound(url: url) }
            throw .failed(url: url, message: error.description)
        } catch {
            throw .failed(url: url, message: "\(error)")
        }
        switch response.head.status {
        case 200..<300: return response.body
        case 403, 404: throw .notFound(url: url)
        case let status: throw .failed(url: url, message: "HTTP status \(status)")
        }
    }
}
