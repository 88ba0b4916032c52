/// How the TUF client reaches a repository. The client appends file names to the base URLs by
/// string concatenation and asks for at most `maxLength` bytes: a server that sends more is
/// refused (the "endless data" attack) without reading it all.
public protocol TUFTransport: Sendable {
    /// GETs `url`. Throws `TUFTransportError.notFound` for 404 (and 403, which TUF treats the
    /// same), `.tooLarge` past `maxLength`, `.failed` for anything else.
    func fetch(_ url: String, maxLength: Int) async throws(TUFTransportError) -> [UInt8]
}

public enum TUFTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(url: String)
    case tooLarge(url: String, limit: Int)
    case failed(url: String, message: String)

    public var description: String {
        switch self {
        case .notFound(let url): "\(url): not found"
        case .tooLarge(let url, let limit): "\(url): the server sent more than \(limit) bytes"
        case .failed(let url, let message): "\(url): \(message)"
        }
    }
}
