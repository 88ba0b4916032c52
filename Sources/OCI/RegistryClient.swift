import FoundationEssentials
import HTTP
import OtterCrypto
import Synchronization

/// A client of the OCI distribution API (distribution-spec v1.1): manifests, blobs, tags, with
/// Bearer token and Basic authentication. Every manifest is checked against the digest that
/// names it before it is returned; blobs stream to a sink (see `BlobStore`), which checks them.
public final class RegistryClient: Sendable {
    public struct Configuration: Sendable {
        /// Credentials per registry (`host[:port]` as in references).
        public var credentials: [String: RegistryCredentials]
        /// Registries reached over plain `http://` (a local mirror, tests); all others use https.
        public var plainHTTPRegistries: Set<String>
        public var limits: Limits
        /// Token realms reached with a client of their own, by URL prefix: a factory gateway's
        /// realm wants the device's client certificate and trusts the factory's root CA.
        public var tokenServices: [TokenService]
        /// Signs tokens here instead of asking the realm (the factory, which holds the key its
        /// registry trusts, signing its own push tokens): service and scope in, JWT out.
        public var tokenSigner: (@Sendable (_ service: String?, _ scope: String) throws -> String)?

        public init(credentials: [String: RegistryCredentials] = [:], plainHTTPRegistries: Set<String> = [],
                    limits: Limits = Limits(), tokenServices: [TokenService] = [],
                    tokenSigner: (@Sendable (_ service: String?, _ scope: String) throws -> String)? = nil) {
            self.credentials = credentials
            self.plainHTTPRegistries = plainHTTPRegistries
            self.limits = limits
            self.tokenServices = tokenServices
            self.tokenSigner = tokenSigner
        }
    }

    /// A token realm (every URL starting with `urlPrefix`) and the client that reaches it.
    public struct TokenService: Sendable {
        public var urlPrefix: String
        public var http: HTTPClient

        public init(urlPrefix: String, http: HTTPClient) {
            self.urlPrefix = urlPrefix
            self.http = http
        }
    }

    public let http: HTTPClient
    public let configuration: Configuration
    private let authorizations = Mutex<[String: CachedAuthorization]>([:])

    struct CachedAuthorization {
        var header: String
        /// nil: valid until refused (Basic).
        var expiry: ContinuousClock.Instant?
    }

    public init(http: HTTPClient, configuration: Configuration = Configuration()) {
        self.http = http
        self.configuration = configuration
    }

    // MARK: - Manifests

    /// Fetches a manifest by digest or tag. By digest, the bytes must hash to it; by tag, to the
    /// `Docker-Content-Digest` the registry announced, when it did.
    public func manifest(_ reference: Reference, accept: [String] = MediaType.acceptedManifests) async throws -> Manifest {
        let repository = reference.repository
        let what = "manifest \(reference)"
        let url = apiURL(repository, "manifests/\(reference.manifestReference)")
        let response = try await authorized(repository, what: what) { authorization in
            var headers = HTTPHeaders([("Accept", accept.joined(separator: ", "))])
            if let authorization { headers["Authorization"] = authorization }
            return try await self.http.send(HTTPRequest(method: .get, url: url, headers: headers),
                                            maxBodyBytes: self.configuration.limits.manifestBytes)
        }
        try check(response, what: what)
        let manifest = try Manifest(bytes: response.body, contentType: response.headers["Content-Type"], what: reference.description,
                                    limits: configuration.limits)
        let expected = try reference.digest ?? response.headers["Docker-Content-Digest"].map { try OCIDigest(parsing: $0) }
        if let expected {
            let actual = expected.algorithm == .sha256 ? manifest.digest
                : OCIDigest(algorithm: expected.algorithm, bytes: OtterCrypto.Digest.hash(manifest.bytes, expected.algorithm))
            guard actual == expected else { throw OCIError.digestMismatch(what: what, expected: expected, actual: actual) }
        }
        return manifest
    }

    /// The image manifest for `platform`: the manifest itself when `reference` names one, or the
    /// platform's entry when it names an index (the index is returned too, to be stored).
    public func imageManifest(_ reference: Reference, platform: Platform = .current) async throws -> (manifest: Manifest, index: Manifest?) {
        let top = try await manifest(reference)
        guard let index = top.index else { return (top, nil) }
        guard let entry = index.manifest(for: platform) else {
            throw OCIError.noMatchingPlatform(repository: reference.repository.description, wanted: platform.description,
                                              available: index.manifests.compactMap { $0.platform?.description })
        }
        let pinned = Reference(repository: reference.repository, digest: entry.digest)
        let manifest = try await manifest(pinned)
        guard manifest.image != nil else {
            throw OCIError.invalidManifest(pinned.description, reason: "an index entry for \(platform) is not an image manifest")
        }
        return (manifest, top)
    }

    /// The descriptor of a manifest from a HEAD request (no body), or nil when it does not exist.
    public func manifestDescriptor(_ reference: Reference, accept: [String] = MediaType.acceptedManifests) async throws -> Descriptor? {
        let repository = reference.repository
        let what = "manifest \(reference)"
        let url = apiURL(repository, "manifests/\(reference.manifestReference)")
        let response = try await authorized(repository, what: what) { authorization in
            var headers = HTTPHeaders([("Accept", accept.joined(separator: ", "))])
            if let authorization { headers["Authorization"] = authorization }
            return try await self.http.send(HTTPRequest(method: .head, url: url, headers: headers), maxBodyBytes: 0)
        }
        if response.status == 404 { return nil }
        try check(response, what: what)
        guard let digestText = response.headers["Docker-Content-Digest"], let digest = try? OCIDigest(parsing: digestText) else {
            if let digest = reference.digest, let size = response.headers["Content-Length"].flatMap({ Int64($0) }) {
                return Descriptor(mediaType: response.headers["Content-Type"] ?? "", digest: digest, size: size)
            }
            throw OCIError.registry(what: what, reason: "the registry sent no Docker-Content-Digest for HEAD")
        }
        if let wanted = reference.digest, wanted != digest {
            throw OCIError.digestMismatch(what: what, expected: wanted, actual: digest)
        }
        let size = response.headers["Content-Length"].flatMap { Int64($0) } ?? -1
        return Descriptor(mediaType: response.headers["Content-Type"] ?? "", digest: digest, size: size)
    }

    // MARK: - Blobs

    /// The size of a blob from a HEAD request, or nil when the registry does not have it.
    public func blobSize(_ digest: OCIDigest, in repository: Repository) async throws -> Int64? {
        let what = "blob \(digest) of \(repository)"
        let url = apiURL(repository, "blobs/\(digest)")
        let response = try await authorized(repository, what: what) { authorization in
            var headers = HTTPHeaders()
            if let authorization { headers["Authorization"] = authorization }
            return try await self.http.send(HTTPRequest(method: .head, url: url, headers: headers), maxBodyBytes: 0)
        }
        if response.status == 404 { return nil }
        try check(response, what: what)
        return response.headers["Content-Length"].flatMap { Int64($0) }
    }

    /// Streams a blob into `sink`, from `sink.resumeOffset` on (Range). The sink checks the
    /// digest (`BlobStore` does); the response's metrics say how many bytes crossed the network.
    public nonisolated(nonsending) func fetchBlob(_ digest: OCIDigest, from repository: Repository, to sink: some HTTPBodySink,
                                                   progress: HTTPProgressHandler? = nil) async throws -> HTTPResponse {
        let what = "blob \(digest) of \(repository)"
        let url = apiURL(repository, "blobs/\(digest)")
        return try await authorized(repository, what: what) { authorization in
            var headers = HTTPHeaders()
            if let authorization { headers["Authorization"] = authorization }
            return try await self.http.stream(HTTPRequest(method: .get, url: url, headers: headers), to: sink, progress: progress)
        }
    }

    // MARK: - Tags

    /// Every tag of the repository, following `Link: <…>; rel="next"` pages.
    public func tags(of repository: Repository) async throws -> [String] {
        struct Page: Decodable { var tags: [String]? }
        let what = "tags of \(repository)"
        var url = apiURL(repository, "tags/list")
        var tags: [String] = []
        for _ in 0..<1000 {
            let pageURL = url
            let response = try await authorized(repository, what: what) { authorization in
                var headers = HTTPHeaders([("Accept", "application/json")])
                if let authorization { headers["Authorization"] = authorization }
                return try await self.http.send(HTTPRequest(method: .get, url: pageURL, headers: headers),
                                                maxBodyBytes: self.configuration.limits.jsonBytes)
            }
            try check(response, what: what)
            do {
                tags += try JSONDecoder().decode(Page.self, from: Data(response.body)).tags ?? []
            } catch {
                throw OCIError.registry(what: what, reason: "the tags list is not the expected JSON (\(error))")
            }
            guard let next = Self.nextLink(response.headers["Link"]) else { return tags }
            url = next.hasPrefix("/") ? baseURL(repository.registry) + next : next
        }
        throw OCIError.registry(what: what, reason: "more than 1000 pages")
    }

    static func nextLink(_ header: String?) -> String? {
        guard let header, header.contains("rel=\"next\""), let open = header.firstIndex(of: "<"),
              let close = header[open...].firstIndex(of: ">") else { return nil }
        return String(header[header.index(after: open)..<close])
    }

    // MARK: - URLs and errors

    func baseURL(_ registry: String) -> String {
        let host = registry == Reference.defaultRegistry ? "registry-1.docker.io" : registry
        let scheme = configuration.plainHTTPRegistries.contains(registry) ? "http" : "https"
        return "\(scheme)://\(host)"
    }

    func apiURL(_ repository: Repository, _ path: String) -> String {
        "\(baseURL(repository.registry))/v2/\(repository.name)/\(path)"
    }

    func check(_ response: HTTPResponse, what: String) throws {
        if response.status == 404 { throw OCIError.notFound(what: what) }
        do {
            try response.requireSuccess()
        } catch {
            throw OCIError.transfer(what: what, http: error.description)
        }
    }

    // MARK: - Authentication

    /// Runs `operation` with the cached authorization for the repository; on a 401 answers the
    /// challenge (a token from the realm, or Basic credentials) and runs it once more.
    nonisolated(nonsending) func authorized(_ repository: Repository, what: String,
                                                    _ operation: (String?) async throws -> HTTPResponse) async throws -> HTTPResponse {
        var authorization = cachedAuthorization(for: repository)
        var answered: String?
        while true {
            let challenge: HTTPResponseHead
            do {
                let response = try await operation(authorization)
                guard response.status == 401 else { return response }
                challenge = response.head
            } catch let error as HTTPError {
                if error.status == 401, let head = error.response {
                    challenge = head
                } else if error.kind == .sink, let underlying = error.underlying as? OCIError {
                    throw underlying
                } else if error.status == 404 {
                    throw OCIError.notFound(what: what)
                } else {
                    throw OCIError.transfer(what: what, http: error.description)
                }
            }
            if let answered {
                forgetAuthorization(for: repository)
                throw OCIError.unauthorized(registry: repository.registry, repository: repository.name, reason: answered)
            }
            let challenges = AuthChallenge.parse(challenge.headers.values(for: "WWW-Authenticate"))
            authorization = try await answer(challenges, repository: repository)
            if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
                answered = "it refused the token from \(bearer.parameters["realm"] ?? "its realm") for \(bearer.parameters["scope"] ?? "the repository")"
                    + " (the token service granted less than that)"
            } else {
                answered = configuration.credentials[repository.registry] == nil
                    ? "it requires credentials and none are configured" : "the credentials were refused"
            }
        }
    }

    private func scopeKey(_ repository: Repository) -> String { "\(repository.registry) repository:\(repository.name):pull" }
    private func basicKey(_ registry: String) -> String { "\(registry) basic" }

    private func cachedAuthorization(for repository: Repository) -> String? {
        let now = ContinuousClock.now
        return authorizations.withLock { cache in
            if let basic = cache[basicKey(repository.registry)] { return basic.header }
            guard let token = cache[scopeKey(repository)] else { return nil }
            if let expiry = token.expiry, expiry <= now {
                cache[scopeKey(repository)] = nil
                return nil
            }
            return token.header
        }
    }

    private func forgetAuthorization(for repository: Repository) {
        authorizations.withLock { cache in
            cache[scopeKey(repository)] = nil
            cache[basicKey(repository.registry)] = nil
        }
    }

    private func answer(_ challenges: [AuthChallenge], repository: Repository) async throws -> String {
        let credentials = configuration.credentials[repository.registry]
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            guard let realm = bearer.parameters["realm"] else {
                throw OCIError.unauthorized(registry: repository.registry, repository: repository.name,
                                            reason: "its Bearer challenge has no realm")
            }
            let scope = bearer.parameters["scope"] ?? "repository:\(repository.name):pull"
            if let signer = configuration.tokenSigner {
                let token = try signer(bearer.parameters["service"], scope)
                let signed = CachedAuthorization(header: "Bearer \(token)", expiry: .now + .seconds(50))
                authorizations.withLock { $0[scopeKey(repository)] = signed }
                return signed.header
            }
            let token = try await fetchToken(realm: realm, service: bearer.parameters["service"], scope: scope,
                                             credentials: credentials, repository: repository)
            authorizations.withLock { $0[scopeKey(repository)] = token }
            return token.header
        }
        if challenges.contains(where: { $0.scheme == "basic" }) {
            guard let credentials else {
                throw OCIError.unauthorized(registry: repository.registry, repository: repository.name,
                                            reason: "it requires credentials (Basic) and none are configured")
            }
            let header = credentials.basicAuthorization
            authorizations.withLock { $0[basicKey(repository.registry)] = CachedAuthorization(header: header, expiry: nil) }
            return header
        }
        throw OCIError.unauthorized(registry: repository.registry, repository: repository.name,
                                    reason: "it answered 401 without a Bearer or Basic challenge")
    }

    /// The token endpoint (distribution `docs/spec/auth/token.md`): `GET realm?service&scope`,
    /// Basic credentials when configured, answer `{token | access_token, expires_in}`.
    private func fetchToken(realm: String, service: String?, scope: String, credentials: RegistryCredentials?,
                            repository: Repository) async throws -> CachedAuthorization {
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        var query: [String] = []
        if let service { query.append("service=" + percentEncoded(service)) }
        query.append("scope=" + percentEncoded(scope))
        let url = realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&")
        var headers = HTTPHeaders([("Accept", "application/json")])
        if let credentials { headers["Authorization"] = credentials.basicAuthorization }
        let what = "token for \(repository) from \(realm)"
        let response: HTTPResponse
        do {
            let client = configuration.tokenServices.first(where: { realm.hasPrefix($0.urlPrefix) })?.http ?? http
            response = try await client.send(HTTPRequest(method: .get, url: url, headers: headers),
                                             maxBodyBytes: configuration.limits.jsonBytes)
        } catch let error as HTTPError {
            throw OCIError.transfer(what: what, http: error.description)
        }
        if response.status == 401 || response.status == 403 {
            throw OCIError.unauthorized(registry: repository.registry, repository: repository.name,
                                        reason: "the token service \(realm) answered \(response.status)"
                                            + (credentials == nil ? " (no credentials are configured)" : " to the configured credentials"))
        }
        try check(response, what: what)
        let decoded: TokenResponse
        do {
            decoded = try JSONDecoder().decode(TokenResponse.self, from: Data(response.body))
        } catch {
            throw OCIError.registry(what: what, reason: "the answer is not a token response (\(error))")
        }
        guard let token = decoded.token ?? decoded.access_token, !token.isEmpty else {
            throw OCIError.registry(what: what, reason: "the answer has neither token nor access_token")
        }
        // distribution's default lifetime is 60 s; renew a little before the registry would refuse it.
        let lifetime = max(decoded.expires_in ?? 60, 1)
        let margin = min(10, lifetime / 10)
        return CachedAuthorization(header: "Bearer \(token)", expiry: .now + .seconds(lifetime - margin))
    }
}
