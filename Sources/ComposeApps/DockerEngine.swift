import FoundationEssentials
import HTTP

/// A small client of the Docker Engine API (v1.41) on its unix socket: dockerd on devices,
/// podman's compatible service (`podman system service`) in tests. Only what installing and
/// watching compose apps needs: ping and version, image load / list / inspect / tag, and the
/// containers of a compose project.
public final class DockerEngine: Sendable {
    public let socketPath: String
    /// Each engine has its own HTTP client: an image load blocks the client's transfer thread
    /// while its tar is being built, and nothing else should wait behind it.
    let client: HTTPClient
    static let base = "http://localhost/v1.41"

    /// `requestTimeout` bounds the short calls (ping, inspect, lists); image loads are bounded
    /// by stall detection only, as they may take minutes for large images on slow flash.
    public init(socketPath: String, connectTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(60)) {
        self.socketPath = socketPath
        self.requestTimeout = requestTimeout
        client = HTTPClient(configuration: HTTPClient.Configuration(
            timeouts: .init(connect: connectTimeout, lowSpeedBytesPerSecond: 1, lowSpeedTime: .seconds(120)),
            retry: .none, proxy: .none, unixSocketPath: socketPath))
    }

    let requestTimeout: Duration

    // MARK: Engine

    /// `GET /_ping`: the engine answers on its socket.
    public func ping() async throws(DockerEngineError) {
        let response = try await send(.get, "/_ping", doing: "ping the engine")
        guard String(decoding: response.body, as: UTF8.self).hasPrefix("OK") else {
            throw failure(.invalidResponse, "ping the engine", "it answered \"\(String(decoding: response.body.prefix(80), as: UTF8.self))\" instead of OK")
        }
    }

    public func version() async throws(DockerEngineError) -> EngineVersion {
        try await decode(EngineVersion.self, try await send(.get, "/version", doing: "read the engine version"), doing: "read the engine version")
    }

    // MARK: Images

    public func images() async throws(DockerEngineError) -> [EngineImage] {
        try await decode([EngineImage].self, try await send(.get, "/images/json", doing: "list images"), doing: "list images")
    }

    /// The image with this name, tag or ID, or nil when the engine does not have it.
    public func image(_ nameOrID: String) async throws(DockerEngineError) -> EngineImage? {
        let doing = "inspect image \(nameOrID)"
        let response = try await send(.get, "/images/\(Self.escapePath(nameOrID))/json", doing: doing, allowing: [404])
        if response.status == 404 { return nil }
        return try await decode(EngineImage.self, response, doing: doing)
    }

    /// `POST /images/{id}/tag`: gives an image the extra name `repository:tag`.
    public func tag(_ nameOrID: String, as repository: String, tag: String) async throws(DockerEngineError) {
        _ = try await send(.post, "/images/\(Self.escapePath(nameOrID))/tag?repo=\(Self.escapeQuery(repository))&tag=\(Self.escapeQuery(tag))",
                           doing: "tag image \(nameOrID) as \(repository):\(tag)")
    }

    // MARK: Containers

    /// Every container (running or not) labelled `com.docker.compose.project=<project>`.
    public func containers(project: String) async throws(DockerEngineError) -> [EngineContainerSummary] {
        let filters = "{\"label\":[\"com.docker.compose.project=\(project)\"]}"
        let doing = "list the containers of project \(project)"
        let response = try await send(.get, "/containers/json?all=1&filters=\(Self.escapeQuery(filters))", doing: doing)
        // Older podman services ignore label filters they do not know: filter here as well.
        return try await decode([EngineContainerSummary].self, response, doing: doing)
            .filter { $0.labels["com.docker.compose.project"] == project }
    }

    /// Every container carrying the compose project label, whatever the project.
    public func composeContainers() async throws(DockerEngineError) -> [EngineContainerSummary] {
        let filters = "{\"label\":[\"com.docker.compose.project\"]}"
        let doing = "list compose containers"
        let response = try await send(.get, "/containers/json?all=1&filters=\(Self.escapeQuery(filters))", doing: doing)
        return try await decode([EngineContainerSummary].self, response, doing: doing)
            .filter { $0.labels["com.docker.compose.project"] != nil }
    }

    public func container(_ id: String) async throws(DockerEngineError) -> EngineContainer {
        let doing = "inspect container \(id)"
        return try await decode(EngineContainer.self, try await send(.get, "/containers/\(Self.escapePath(id))/json", doing: doing), doing: doing)
    }

    // MARK: Transport

    func send(_ method: HTTPMethod, _ path: String, body: HTTPRequestBody? = nil, headers: HTTPHeaders = [:],
              doing: String, allowing accepted: Set<Int> = [], timeout: Duration? = nil,
              maxBodyBytes: Int64 = HTTPClient.defaultMaxBodyBytes) async throws(DockerEngineError) -> HTTPResponse {
        let request = HTTPRequest(method: method, url: Self.base + path, headers: headers, body: body,
                                  followRedirects: false, isRetryable: false)
        let response: HTTPResponse
        do {
            response = try await withDeadline(timeout ?? requestTimeout) { [client] in
                try await client.send(request, maxBodyBytes: maxBodyBytes)
            }
        } catch let error as HTTPError {
            throw transportFailure(error, doing)
        } catch is DeadlineExceeded {
            throw failure(.timedOut, doing, "no answer within \(timeout ?? requestTimeout)")
        } catch {
            throw failure(.unreachable, doing, "\(error)")
        }
        guard response.isSuccess || accepted.contains(response.status) else {
            throw failure(.status(response.status), doing, Self.engineMessage(response.body))
        }
        return response
    }

    func transportFailure(_ error: HTTPError, _ doing: String) -> DockerEngineError {
        switch error.kind {
        case .couldNotConnect, .couldNotResolveHost:
            return failure(.unreachable, doing, "nothing answers on the socket (\(error.message))")
        case .timedOut:
            return failure(.timedOut, doing, error.message)
        default:
            return failure(.invalidResponse, doing, error.message)
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, doing: String) async throws(DockerEngineError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw failure(.invalidResponse, doing, "unexpected answer (\(error)): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
    }

    func failure(_ kind: DockerEngineError.Kind, _ doing: String, _ message: String) -> DockerEngineError {
        DockerEngineError(kind: kind, socketPath: socketPath, operation: doing, message: message)
    }

    /// The engine's `{"message": "..."}` error body, or the raw start of the body.
    static func engineMessage(_ body: [UInt8]) -> String {
        struct Message: Decodable { var message: String }
        if let message = try? JSONDecoder().decode(Message.self, from: Data(body)) { return message.message }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.isEmpty ? "no explanation given" : text
    }

    static func escapeQuery(_ text: String) -> String {
        percentEscape(text, keeping: "-._~")
    }

    /// Image names hold `/` and `:`, which the engine's router takes as they are.
    static func escapePath(_ text: String) -> String {
        percentEscape(text, keeping: "-._~/:@")
    }

    private static func percentEscape(_ text: String, keeping: String) -> String {
        let kept = Set(keeping.utf8)
        var out = ""
        for byte in text.utf8 {
            let isAlnum = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            if isAlnum || kept.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}

/// What went wrong talking to the container engine.
public struct DockerEngineError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Nothing listens on the socket (engine not running, wrong path).
        case unreachable
        case timedOut
        /// The engine answered with an error status.
        case status(Int)
        case invalidResponse
        /// The engine refused an image archive, or the archive could not be built from the store.
        case imageLoad
    }

    public var kind: Kind
    public var socketPath: String
    /// What Otter was doing: "load image …", "inspect container …".
    public var operation: String
    public var message: String

    public var description: String {
        var text = "container engine at \(socketPath): cannot \(operation): \(message)"
        switch kind {
        case .unreachable:
            text += "; check that dockerd (or `podman system service`) is running and listens on \(socketPath)"
        case .timedOut:
            text += "; the engine is overloaded or hung, check its logs (journalctl -u docker)"
        case .imageLoad:
            text += "; the app store's blobs may be damaged: fetch the app again"
        default:
            break
        }
        return text
    }
}

struct DeadlineExceeded: Error {}

/// Runs `work` and fails with `DeadlineExceeded` when it is not done in time (the work is
/// cancelled then).
func withDeadline<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
