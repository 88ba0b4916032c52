import FoundationEssentials
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The plain-HTTP endpoints microcontrollers poll (MCUs rarely do TLS client certificates):
/// `GET /health`, `GET /version?device=ID` (version, CRC-32 decimal, size: three lines) and
/// `GET /firmware?device=ID` (the binary; `ETag`, `Range`, `If-Range`, `If-None-Match`).
/// With a token, requests must carry `Authorization: Bearer <token>` or `&token=<token>`.
public struct FirmwareServer: Sendable {
    /// Set on answers from the cached copy while the registry cannot be reached.
    public static let staleHeader = HTTPField.Name("X-Firmware-Stale")!
    public static let versionHeader = HTTPField.Name("X-Firmware-Version")!
    public static let crc32Header = HTTPField.Name("X-Firmware-CRC32")!

    public var service: FirmwareService
    public var host: String
    public var port: Int
    public var token: String?

    public init(service: FirmwareService, host: String = "127.0.0.1", port: Int = 8080, token: String? = nil) {
        self.service = service
        self.host = host
        self.port = port
        self.token = token
    }

    /// Serves and polls until SIGTERM/SIGINT (when `handlingSignals`) or cancellation;
    /// `onListening` gets the bound port (port 0 picks a free one).
    public func run(logger: Logger = FirmwareService.defaultLogger, handlingSignals: Bool = true,
                    onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let app = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "otter-firmware",
                                                    reuseAddress: true),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await service.pollForever() }
            try await app.runService(gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [])
            group.cancelAll()
        }
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/health") { request, _ in
            if let refusal = authorizationFailure(request) { return refusal }
            let (healthy, detail) = await service.health()
            return text(healthy ? .ok : .serviceUnavailable, detail + "\n")
        }
        router.get("/version") { request, _ in
            await answer(request) { served in
                var headers = headers(for: served)
                headers[.contentType] = "text/plain; charset=utf-8"
                let body = "\(served.release.version)\n\(served.release.crc32)\n\(served.release.size)\n"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
            }
        }
        router.get("/firmware") { request, _ in
            await answer(request) { served in firmwareResponse(served, request) }
        }
        return router
    }

    /// 400 for a bad query, 401 for a missing token, then the device's state: 404 unknown,
    /// 502 refused (verification failed), 503 registry unreachable with nothing cached.
    private func answer(_ request: Request, _ serve: (ServedFirmware) -> Response) async -> Response {
        if let refusal = authorizationFailure(request) { return refusal }
        let devices = request.uri.queryParameters.getAll("device")
        guard devices.count == 1, let device = devices.first.map({ String($0) }) else {
            return text(.badRequest, "give exactly one device: ?device=<id>\n")
        }
        guard FirmwareRegistry.isValidDeviceID(device) else {
            return text(.badRequest, "device id \"\(device.prefix(140))\" is invalid: lower-case letters and digits separated by '.', '_' or '-', at most 128 characters\n")
        }
        switch await service.lookup(device) {
        case .available(let served): return serve(served)
        case .unknownDevice(let reason): return text(.notFound, reason + "\n")
        case .refused(let reason): return text(.badGateway, reason + "\n")
        case .unavailable(let reason): return text(.serviceUnavailable, reason + "\n")
        }
    }

    private func firmwareResponse(_ served: ServedFirmware, _ request: Request) -> Response {
        var headers = headers(for: served)
        headers[.contentType] = "application/octet-stream"
        headers[.acceptRanges] = "bytes"
        let size = served.binary.readableBytes
        if request.headers[.range] == nil, let match = request.headers[.ifNoneMatch], match == served.etag || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        var range = request.headers[.range].map { ByteRange(header: $0, size: size) } ?? .whole
        if let condition = request.headers[.ifRange], condition != served.etag { range = .whole }
        switch range {
        case .whole:
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: served.binary))
        case .part(let part):
            headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound - 1)/\(size)"
            let slice = served.binary.getSlice(at: served.binary.readerIndex + part.lowerBound, length: part.count)!
            return Response(status: .partialContent, headers: headers, body: ResponseBody(byteBuffer: slice))
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
    }

    private func headers(for served: ServedFirmware) -> HTTPFields {
        var headers = HTTPFields()
        headers[.eTag] = served.etag
        headers[.cacheControl] = "no-cache"
        headers[Self.versionHeader] = served.release.version
        headers[Self.crc32Header] = String(served.release.crc32)
        if let stale = served.staleReason { headers[Self.staleHeader] = stale }
        return headers
    }

    private func authorizationFailure(_ request: Request) -> Response? {
        guard let token else { return nil }
        let offered = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            ?? request.uri.queryParameters.get("token")
        guard let offered, constantTimeEqual(Array(offered.utf8), Array(token.utf8)) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer realm=\"otter-firmware\""
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .unauthorized, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(string: "a firmware token is required: Authorization: Bearer <token> or &token=<token>\n")))
        }
        return nil
    }
}

private func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/plain; charset=utf-8"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}

/// One `Range: bytes=…` request (RFC 9110 §14.1.2). Several ranges, other units or malformed
/// values are served whole, as the RFC allows a server to ignore the header.
enum ByteRange: Equatable {
    case whole
    case part(Range<Int>)
    case unsatisfiable

    init(header: String, size: Int) {
        guard header.hasPrefix("bytes="), !header.contains(",") else { self = .whole; return }
        let spec = header.dropFirst("bytes=".count).filter { $0 != " " }
        guard let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int(last) else { self = .whole; return }
            self = suffix == 0 || size == 0 ? .unsatisfiable : .part(max(0, size - suffix)..<size)
            return
        }
        guard let start = Int(first), start >= 0 else { self = .whole; return }
        var end = size - 1
        if !last.isEmpty {
            guard let given = Int(last), given >= start else { self = .whole; return }
            end = min(given, size - 1)
        }
        self = start >= size ? .unsatisfiable : .part(start..<(end + 1))
    }
}
