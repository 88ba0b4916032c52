import FoundationEssentials
import OtterCrypto

/// The factory as the token service of its registry (distribution's token authentication,
/// `docs/spec/auth/token.md` and `jwt.md`): a registry configured with `auth.token` sends
/// clients to a realm for a Bearer token, and accepts tokens signed by a key whose certificate
/// is in its `rootcertbundle`. The factory holds that key in `registry/token.{key,crt}` and
/// signs JWTs (ES256, the certificate in `x5c`) naming the repositories and actions granted.
public struct RegistryTokenIssuer: Sendable {
    /// `iss` of every token; the registry's `auth.token.issuer` must say the same.
    public static let issuer = "otter-factory"
    /// The default `service` (the registry's `auth.token.service`, the token's `aud`).
    public static let defaultService = "otter-registry"

    public let certificate: Certificate
    let key: ECDSAP256PrivateKey

    public static func keyPath(_ factory: FactoryDirectory) -> String { factory.path + "/registry/token.key" }
    public static func certificatePath(_ factory: FactoryDirectory) -> String { factory.path + "/registry/token.crt" }

    /// The factory's issuer; nil when it has no token key (its registry uses no token auth).
    public static func load(_ factory: FactoryDirectory) throws -> RegistryTokenIssuer? {
        guard let keyData = FileManager.default.contents(atPath: keyPath(factory)) else { return nil }
        guard let certificateData = FileManager.default.contents(atPath: certificatePath(factory)) else {
            throw FactoryError("\(keyPath(factory)) has no certificate beside it (\(certificatePath(factory))); remove the key and run `otter-factory registry token-auth` again")
        }
        do {
            return try RegistryTokenIssuer(certificate: Certificate(pem: String(decoding: certificateData, as: UTF8.self)),
                                           key: ECDSAP256PrivateKey(pem: String(decoding: keyData, as: UTF8.self)))
        } catch {
            throw FactoryError("the registry token key \(keyPath(factory)) or its certificate is unreadable: \(error)")
        }
    }

    /// The factory's issuer, made on first use: a P-256 key and a self-signed certificate
    /// (10 years) that the registry trusts as its whole `rootcertbundle`.
    public static func loadOrCreate(_ factory: FactoryDirectory, name: String = "otter") throws -> RegistryTokenIssuer {
        if let issuer = try load(factory) { return issuer }
        try FileManager.default.createDirectory(atPath: factory.path + "/registry", withIntermediateDirectories: true)
        let authority = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "\(name) registry token signer", organization: name))
        try Array(try authority.certificate.pem.utf8).write(to: certificatePath(factory))
        try writeSecret(try authority.key.pem, to: keyPath(factory))
        return RegistryTokenIssuer(certificate: authority.certificate, key: authority.key)
    }

    init(certificate: Certificate, key: ECDSAP256PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A signed token for `subject` (`sub`), valid `lifetime` seconds from `now`.
    public func token(subject: String, service: String, access: [RegistryScope], lifetime: Int64 = 300,
                      now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        struct Header: Encodable { var typ = "JWT"; var alg = "ES256"; var x5c: [String] }
        struct Claims: Encodable {
            var iss: String
            var sub: String
            var aud: String
            var exp: Int64
            var nbf: Int64
            var iat: Int64
            var jti: String
            var access: [RegistryScope]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = try encoder.encode(Header(x5c: [Base64.encode(certificate.der)]))
        var nonce = [UInt8](repeating: 0, count: 16)
        for index in nonce.indices { nonce[index] = UInt8.random(in: 0...255) }
        // nbf a little in the past: the registry's clock may be behind the factory's.
        let claims = try encoder.encode(Claims(iss: Self.issuer, sub: subject, aud: service, exp: now + lifetime, nbf: now - 10,
                                               iat: now, jti: Hex.encode(nonce), access: access))
        let signingInput = Base64.encodeURL(header) + "." + Base64.encodeURL(claims)
        return signingInput + "." + Base64.encodeURL(try key.jwsSignature(for: Array(signingInput.utf8)))
    }

    /// The `auth:` section of the registry's config.yml that makes it trust this issuer.
    public func registryConfiguration(realm: String, service: String, factory: FactoryDirectory) -> String {
        """
        auth:
          token:
            realm: \(realm)
            service: \(service)
            issuer: \(Self.issuer)
            rootcertbundle: \(Self.certificatePath(factory))
        """
    }
}

/// One `scope` of a token request and one entry of a token's `access` claim:
/// `repository:images/web:pull,push` (distribution `docs/spec/auth/scope.md`).
public struct RegistryScope: Codable, Sendable, Hashable {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String = "repository", name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    /// `type:name:actions`; the name may hold a registry port (`host:5000/app`), so type is the
    /// text before the first colon and the actions the text after the last.
    public init(parsing text: String) throws(FactoryError) {
        guard let first = text.firstIndex(of: ":"), let last = text.lastIndex(of: ":"), first < last else {
            throw FactoryError("scope \(text) is not type:name:actions (e.g. repository:images/web:pull)")
        }
        type = String(text[..<first])
        name = String(text[text.index(after: first)..<last])
        actions = text[text.index(after: last)...].split(separator: ",").map(String.init)
        guard !type.isEmpty, !name.isEmpty, !actions.isEmpty else {
            throw FactoryError("scope \(text) is not type:name:actions (e.g. repository:images/web:pull)")
        }
    }

    public var text: String { "\(type):\(name):\(actions.joined(separator: ","))" }

    /// This scope with only the actions in `allowed` (the token service grants a subset; a
    /// client asking for more gets less, and the registry refuses what is missing).
    public func granting(only allowed: Set<String>) -> RegistryScope? {
        let kept = actions.filter(allowed.contains)
        return kept.isEmpty ? nil : RegistryScope(type: type, name: name, actions: kept)
    }
}
