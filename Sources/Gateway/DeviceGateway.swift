import Factory
import FoundationEssentials
import Glibc
import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import NIOSSL
import OtterCrypto
import TUF
import Synchronization

/// The request context of the device API: the connection (for its client certificate) and,
/// once `DeviceAuthentication` ran, the device it belongs to.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public var identity: DeviceIdentity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
    }

    /// Report bodies are small; larger uploads are refused with 413 before they are read.
    public var maxUploadSize: Int { DeviceGateway.maxBodyBytes }

    /// The identity `DeviceAuthentication` established (every device route runs behind it).
    func device() throws -> DeviceIdentity {
        guard let identity else { throw HTTPError(.unauthorized, message: "no device identity on this connection") }
        return identity
    }
}

/// The device API of REFERENCE §3 over the factory's files and database: TUF metadata under
/// `/repo/`, the OSTree repo under `/ostree/`, and the device's own reports. Every route is keyed
/// by the UUID of the connection's verified client certificate, so a device only ever reads and
/// writes its own rows.
public final class DeviceGateway: Sendable {
    public static let maxBodyBytes = 1 << 20
    public static let maxEventsBytes = 256 << 10
    /// A device's header state is written at most this often when it does not change.
    static let checkInInterval: Double = 30

    public let factory: FactoryDirectory
    public let database: FactoryDatabase
    let deviceCASubject: DistinguishedName
    /// Identities of open connections.
    let connections = Mutex<[ObjectIdentifier: CachedIdentity]>([:])
    let metadataCache = Mutex<[String: MetadataFile]>([:])
    let lastCheckIns = Mutex<[String: (key: String, state: FactoryDatabase.CheckIn, at: Double)]>([:])

    struct CachedIdentity: Sendable {
        var identity: DeviceIdentity?
        var refusal: String?
    }

    let production: ProductionRepository

    public init(factory: FactoryDirectory, database: FactoryDatabase) throws {
        self.factory = factory
        self.database = database
        production = ProductionRepository(database: database, factory: factory)
        let pem = try readText(factory.pkiDirectory + "/device-ca.crt")
        deviceCASubject = try Certificate(pem: pem).subject
    }

    // MARK: Identity

    /// The device behind a connection: its verified client certificate (TLS already checked the
    /// chain and validity), which must come from the device CA and carry a UUID. Read once per
    /// connection; the entry goes when the connection closes.
    func identify(channel: any Channel) async throws -> DeviceIdentity {
        let id = ObjectIdentifier(channel)
        let entry: CachedIdentity
        if let cached = connections.withLock({ $0[id] }) {
            entry = cached
        } else {
            entry = try await Self.identity(of: channel, deviceCA: deviceCASubject)
            connections.withLock { $0[id] = entry }
            channel.closeFuture.whenComplete { _ in _ = self.connections.withLock { $0.removeValue(forKey: id) } }
        }
        if let identity = entry.identity { return identity }
        throw HTTPError(.forbidden, message: entry.refusal ?? "certificate refused")
    }

    static func identity(of channel: any Channel, deviceCA: DistinguishedName) async throws -> CachedIdentity {
        guard let peer = try await channel.nioSSL_peerCertificate().get() else {
            throw HTTPError(.unauthorized, message: "no client certificate on this connection")
        }
        var entry = CachedIdentity()
        do {
            let certificate = try Certificate(pem: pemCertificate(try peer.toDERBytes()))
            guard certificate.issuer == deviceCA else {
                throw FactoryError("the client certificate is issued by \(certificate.issuer), not the factory's device CA")
            }
            entry.identity = try DeviceIdentity(certificate: certificate)
        } catch {
            entry.refusal = "\(error)"
        }
        return entry
    }

    /// Records the `x-ats-*` headers and the contact time (written when they change, or every
    /// `checkInInterval` seconds), creating the device on first contact.
    func checkIn(_ identity: DeviceIdentity, headers: HTTPFields) async throws {
        func header(_ name: String) -> String? {
            HTTPField.Name(name).flatMap { headers[$0] }.map { String($0.prefix(1024)) }
        }
        let state = FactoryDatabase.CheckIn(tags: header("x-ats-tags"), targetName: header("x-ats-target"),
                                            ostreeHash: header("x-ats-ostreehash"), dockerApps: header("x-ats-dockerapps"))
        let now = Date().timeIntervalSince1970
        let recent = lastCheckIns.withLock { seen -> Bool in
            guard let last = seen[identity.uuid] else { return false }
            return last.key == identity.publicKeyPEM && last.state == state && now - last.at < Self.checkInInterval
        }
        if recent { return }
        switch try await database.checkIn(identity, state: state, at: now) {
        case .keyMismatch:
            throw HTTPError(.unauthorized, message: "device \(identity.uuid) is registered with another key; re-register it")
        case .known, .created:
            lastCheckIns.withLock { seen in
                if seen.count > 100_000 { seen.removeAll() }
                seen[identity.uuid] = (identity.publicKeyPEM, state, now)
            }
        }
    }

    // MARK: Routes

    public func makeRouter() -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: DeviceAuthentication(gateway: self))
        router.add(middleware: FileMiddleware<GatewayRequestContext, LocalFileSystem>(
            factory.ostreeRepoPath + "/", urlBasePath: "/ostree", searchForIndexHtml: false,
            logger: Logger(label: "otter-factory.ostree")))
        router.get("/repo/:file") { request, context in try await self.tufMetadata(request, context) }
        // No other download locations: devices pull the repo through the gateway (REFERENCE §3).
        router.post("/ostree/download-urls") { _, _ in Response(status: .noContent) }
        router.get("/device") { _, context in try await self.deviceDocument(context) }
        router.get("/config") { request, context in try await self.config(request, context) }
        router.post("/certificate/renew") { request, context in try await self.renewCertificate(request, context) }
        router.get("/hub-creds/") { _, context in try self.hubCredentials(context) }
        router.get("/hub-token") { request, context in try self.registryToken(request, context) }
        router.put("/system_info") { request, context in
            try await self.systemInfo(request, context, kind: "hardware", check: { bytes throws(ReportError) in
                _ = try ReportJSON.parse(bytes, what: "the system info body")
            })
        }
        router.put("/system_info/network") { request, context in
            try await self.systemInfo(request, context, kind: "network", check: checkNetworkInfo)
        }
        router.put("/system_info/config") { request, context in
            try await self.systemInfo(request, context, kind: "config", check: { bytes throws(ReportError) in
                guard String(validating: bytes, as: UTF8.self) != nil else { throw ReportError("the config body is not UTF-8 text") }
            })
        }
        router.post("/events") { request, context in
            var request = request
            let body = try await self.body(&request, limit: Self.maxEventsBytes)
            let events = try reportChecked { () throws(ReportError) in try DeviceEvent.parseAll(body) }
            try await self.database.record(events: events, for: try context.device().uuid, at: Date().timeIntervalSince1970)
            return Response(status: .ok)
        }
        router.post("/apps-states") { request, context in
            var request = request
            let body = try await self.body(&request, limit: Self.maxBodyBytes)
            let states = try reportChecked { () throws(ReportError) in try AppsStates.parse(body) }
            try await self.database.record(appsStates: states, for: try context.device().uuid, at: Date().timeIntervalSince1970)
            return Response(status: .ok)
        }
        return router
    }

    static let roleFileNames: Set<String> = ["root.json", "timestamp.json", "snapshot.json", "targets.json"]

    /// `<role>.json` and `<N>.<role>.json` with `x-ats-role-checksum`: of the CI repository for
    /// test devices, of the production repository of their tag (or of their active wave) for
    /// production devices.
    func tufMetadata(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let identity = try context.device()
        let file = context.parameters.get("file") ?? ""
        let parts = file.split(separator: ".", maxSplits: 1)
        let valid = Self.roleFileNames.contains(file)
            || (parts.count == 2 && parts[0].allSatisfy(\.isASCII) && parts[0].allSatisfy(\.isNumber) && parts[0].count <= 9
                && Self.roleFileNames.contains(String(parts[1])))
        guard valid else { throw HTTPError(.notFound, message: "no TUF metadata named \(file)") }
        let metadata: MetadataFile
        if identity.isProduction {
            let tag = request.headers[Self.tagsHeader]?.split(separator: ",").first.map(String.init)
            guard let tag else {
                throw HTTPError(.notFound, message: "a production device must send its tag in x-ats-tags to get its production repository")
            }
            guard let bytes = try await production.metadata(file, deviceUUID: identity.uuid, tag: tag) else {
                throw HTTPError(.notFound, message: "the production repository of tag \(tag) has no \(file)")
            }
            metadata = MetadataFile(stamp: [], bytes: ByteBuffer(bytes: bytes), checksum: Hex.encode(Digest.sha256(bytes)))
        } else {
            guard let ciFile = metadataFile(factory.ciRepositoryPath + "/" + file) else {
                throw HTTPError(.notFound, message: "the CI repository has no \(file)")
            }
            metadata = ciFile
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[Self.roleChecksum] = metadata.checksum
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: metadata.bytes))
    }

    static let roleChecksum = HTTPField.Name("x-ats-role-checksum")!
    static let tagsHeader = HTTPField.Name("x-ats-tags")!

    struct MetadataFile: Sendable {
        var stamp: [Int]
        var bytes: ByteBuffer
        var checksum: String
    }

    /// A metadata file and its SHA-256, read again only when its inode, size or mtime change
    /// (the repository is rewritten by rename, so a new version is a new inode).
    func metadataFile(_ path: String) -> MetadataFile? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let stamp = [Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec)]
        if let cached = metadataCache.withLock({ $0[path] }), cached.stamp == stamp { return cached }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = Array(data)
        let file = MetadataFile(stamp: stamp, bytes: ByteBuffer(bytes: bytes), checksum: Hex.encode(Digest.sha256(bytes)))
        metadataCache.withLock { cache in
            if cache.count > 1000 { cache.removeAll() }
            cache[path] = file
        }
        return file
    }

    /// `GET /device`: the fields DGS and fioup's `whoami` read.
    func deviceDocument(_ context: GatewayRequestContext) async throws -> Response {
        let identity = try context.device()
        guard let device = try await database.device(identity.uuid) else {
            throw HTTPError(.unauthorized, message: "device \(identity.uuid) is unknown")
        }
        let factoryName = (try? await database.setting("factory.name")) ?? nil
        let document = DeviceDocument(
            uuid: device.uuid, name: device.name, factory: factoryName ?? "", pubkey: device.publicKey,
            is_prod: device.isProduction, created_at: device.createdAt, last_seen: device.lastSeen ?? device.createdAt,
            tag: device.tags.joined(separator: ","), target_name: device.targetName ?? "", ostree_hash: device.ostreeHash ?? "",
            docker_apps: device.dockerApps.joined(separator: ","), group_name: device.group ?? "",
            hardware_id: device.hardwareID ?? "", update_name: "", repo_id: factoryName ?? "")
        return try jsonResponse(document)
    }

    struct DeviceDocument: Encodable {
        var uuid, name, factory, pubkey: String
        var is_prod: Bool
        var created_at, last_seen: Double
        var tag, target_name, ostree_hash, docker_apps, group_name, hardware_id, update_name, repo_id: String
    }

    /// `GET /config`: the device's fioconfig document (`{"<file>":{"Value":…,"Unencrypted":true}}`)
    /// with its update windows added as `otter-update-windows.toml` (none while it is in a
    /// `waves rollout --now` of an active wave); 204 without either, 304 when
    /// `If-Modified-Since` is not older.
    func config(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let identity = try context.device()
        let stored = try await database.config(for: identity.uuid)
        var windows = try await database.effectiveWindows(identity.uuid)
        let withheld = try await database.windowsWithheld(identity.uuid)
        let withholding = withheld?.active == true
        if withholding { windows = windows.map { ([], $0.updatedAt) } }
        guard stored != nil || windows != nil else { return Response(status: .noContent) }
        let modified = httpDate(max(stored?.updatedAt ?? 0, windows?.updatedAt ?? 0, withheld?.changedAt ?? 0))
        var headers = HTTPFields()
        headers[.lastModified] = modified
        headers[.date] = httpDate(Date().timeIntervalSince1970)
        if request.headers[.ifModifiedSince] == modified { return Response(status: .notModified, headers: headers) }
        headers[.contentType] = "application/json"
        var body = stored.map { Array($0.body.utf8) } ?? Array("{}".utf8)
        if withholding || windows?.windows.isEmpty == false, var document = (try? JSONParser().parse(body))?.objectValue {
            document[UpdateWindowConfig.configFileName] = windows.flatMap { $0.windows.isEmpty ? nil : $0.windows }.map {
                .object(JSONObject(["Value": .string(UpdateWindowConfig.toml($0)), "Unencrypted": .bool(true)]))
            }
            body = JSONWriter.compact(.object(document))
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    func systemInfo(_ request: Request, _ context: GatewayRequestContext, kind: String,
                    check: ([UInt8]) throws(ReportError) -> Void) async throws -> Response {
        var request = request
        let body = try await self.body(&request, limit: Self.maxBodyBytes)
        try reportChecked { () throws(ReportError) in try check(body) }
        try await database.record(systemInfo: body, kind: kind, contentType: request.headers[.contentType],
                                  for: try context.device().uuid, at: Date().timeIntervalSince1970)
        return Response(status: .ok)
    }

    func body(_ request: inout Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw HTTPError(.contentTooLarge, message: "the body is \(length) bytes; this route takes at most \(limit)")
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge, message: "the body is larger than the \(limit) bytes this route takes")
        }
    }
}

/// Runs a schema check, turning its error into a 400 whose body says what is wrong.
func reportChecked<T>(_ body: () throws(ReportError) -> T) throws -> T {
    do { return try body() } catch { throw HTTPError(.badRequest, message: error.message) }
}

/// Identifies the device of every request and records its check-in before any route runs.
struct DeviceAuthentication: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let gateway: DeviceGateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let identity = try await gateway.identify(channel: context.channel)
        try await gateway.checkIn(identity, headers: request.headers)
        context.identity = identity
        return try await next(request, context)
    }
}

func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}

func pemCertificate(_ der: [UInt8]) -> String {
    let base64 = Base64.encode(der)
    var lines = ["-----BEGIN CERTIFICATE-----"]
    var index = base64.startIndex
    while index < base64.endIndex {
        let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
        lines.append(String(base64[index..<end]))
        index = end
    }
    lines.append("-----END CERTIFICATE-----")
    return lines.joined(separator: "\n") + "\n"
}

func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw FactoryError("cannot read \(path)") }
    return String(decoding: data, as: UTF8.self)
}

/// RFC 1123 date (`Sun, 06 Nov 1994 08:49:37 GMT`), for `Last-Modified` and `Date`.
func httpDate(_ seconds: Double) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    var buffer = [CChar](repeating: 0, count: 64)
    let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
