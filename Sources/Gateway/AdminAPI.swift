import Factory
import FoundationEssentials
import HTTPTypes
import Hummingbird
import NIOCore
import OtterCrypto
import TUF

/// The admin API, for `otter-factory` commands run on the operator's machine, where the offline
/// key is: served on the registration listener (TLS with the gateway certificate, no client
/// certificate), each request authenticated by `Authorization: Bearer <admin token>` (made by
/// `otter-factory tokens admin`; only its SHA-256 is stored, in the database, so every gateway
/// on the database accepts it).
///
/// - `POST /admin/waves/signing-request` `{"name","version","tag","ignoreWindows"}` → the three
///   targets bodies to sign: `{"wave":{…},"complete":{…},"cancel":{…}}`.
/// - `POST /admin/waves` the same fields plus `"signed":{"wave":<envelope>,"complete":…,"cancel":…}`
///   → 201; the server checks the offline signatures, adds its online one and stores the wave.
///
/// Private keys never travel: only signed metadata is uploaded.
public struct AdminAPI: Sendable {
    public let waves: WaveStore
    public let factory: FactoryDirectory
    static let settingKey = "admin.token.sha256"

    public init(database: FactoryDatabase, factory: FactoryDirectory) {
        waves = WaveStore(database: database, factory: factory)
        self.factory = factory
    }

    /// Makes a new admin token (replacing the previous one) and returns it; it is shown once.
    public static func createToken(_ database: FactoryDatabase) async throws -> String {
        let token = FactoryDatabase.randomToken()
        try await database.setSetting(settingKey, FactoryDatabase.tokenHash(token))
        return token
    }

    func authenticate(_ request: Request) async throws {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw HTTPError(.unauthorized, message: "the admin API needs Authorization: Bearer <token>; make one with `otter-factory tokens admin`")
        }
        let stored = try await waves.database.setting(Self.settingKey)
        guard let stored, stored == FactoryDatabase.tokenHash(String(header.dropFirst(7))) else {
            throw HTTPError(.unauthorized, message: "the admin token is not valid")
        }
    }

    struct Fields {
        var name, version, tag: String
        var ignoreWindows: Bool
        var object: JSONObject
    }

    static func fields(_ bytes: [UInt8]) throws -> Fields {
        guard let object = (try? JSONParser().parse(bytes))?.objectValue,
              let name = object["name"]?.stringValue, let version = object["version"]?.stringValue,
              let tag = object["tag"]?.stringValue else {
            throw HTTPError(.badRequest, message: "expected a JSON object with string name, version and tag")
        }
        return Fields(name: name, version: version, tag: tag, ignoreWindows: object["ignoreWindows"]?.boolValue ?? false,
                      object: object)
    }

    public func add(to router: Router<BasicRequestContext>) {
        router.post("/admin/waves/signing-request") { request, _ in
            try await self.authenticate(request)
            var request = request
            let fields = try Self.fields(Array(try await request.collectBody(upTo: 64 << 10).readableBytesView))
            let signing = try await self.refusingFactoryErrors {
                try await self.waves.signingRequest(name: fields.name, version: fields.version, tag: fields.tag,
                                                    ci: try self.factory.ciRepository().targets(), ignoreWindows: fields.ignoreWindows)
            }
            let body = JSONObject(["wave": .object(signing.wave), "complete": .object(signing.complete), "cancel": .object(signing.cancel)])
            return Self.json(JSONWriter.compact(.object(body)), status: .ok)
        }
        router.post("/admin/waves") { request, _ in
            try await self.authenticate(request)
            var request = request
            let fields = try Self.fields(Array(try await request.collectBody(upTo: 16 << 20).readableBytesView))
            guard let signed = fields.object["signed"]?.objectValue,
                  let wave = signed["wave"], let complete = signed["complete"], let cancel = signed["cancel"] else {
                throw HTTPError(.badRequest, message: "expected \"signed\": {\"wave\", \"complete\", \"cancel\"} envelopes")
            }
            try await self.refusingFactoryErrors {
                try await self.waves.create(name: fields.name, version: fields.version, tag: fields.tag,
                                            signed: WaveStore.SignedWave(wave: JSONWriter.compact(wave), complete: JSONWriter.compact(complete),
                                                                         cancel: JSONWriter.compact(cancel)),
                                            ignoreWindows: fields.ignoreWindows, at: Date().timeIntervalSince1970)
            }
            return Self.json(Array(#"{"created":true}"#.utf8), status: .created)
        }
    }

    /// A factory error (bad request, wrong signature, active wave) is the client's: 409 with its message.
    func refusingFactoryErrors<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as FactoryError {
            throw HTTPError(.conflict, message: error.message)
        }
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
