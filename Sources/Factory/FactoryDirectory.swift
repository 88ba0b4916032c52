import FoundationEssentials
import OSTree
import OtterCrypto
import TUF

/// The factory's files, all below one directory:
///
/// ```
/// keys/tuf/{root,targets,snapshot,timestamp}.key   online TUF keys (ed25519 hex seed or PEM)
/// keys/ostree/ed25519.secret, ed25519.pub          commit signing key (ostree sign format)
/// tuf/ci/                                          the CI TUF repository, as devices fetch it
/// ostree/                                          archive OSTree repo, as devices pull it
/// pki/root.{crt,key}                               factory root CA (devices trust it for the gateway)
/// pki/device-ca.{crt,key}                          signs device certificates (below the root)
/// pki/gateway.{crt,key}                            the gateway's TLS server certificate
/// ```
public struct FactoryDirectory: Sendable {
    public let path: String

    public var tufKeysDirectory: String { path + "/keys/tuf" }
    public var ostreeSecretKeyPath: String { path + "/keys/ostree/ed25519.secret" }
    public var ostreePublicKeyPath: String { path + "/keys/ostree/ed25519.pub" }
    public var ciRepositoryPath: String { path + "/tuf/ci" }
    public var ostreeRepoPath: String { path + "/ostree" }
    public var pkiDirectory: String { path + "/pki" }

    /// Opens an existing factory directory; the error says how to make one.
    public init(existing path: String) throws(FactoryError) {
        self.path = Self.normalized(path)
        guard FileManager.default.fileExists(atPath: self.path + "/keys/tuf/root.key") else {
            throw FactoryError("\(path) is not a factory directory (no keys/tuf/root.key); create one with `otter-factory init \(path)`")
        }
    }

    private init(creating path: String) {
        self.path = Self.normalized(path)
    }

    /// Creates a factory: online TUF keys for every top-level role, an empty CI repository
    /// (version 1 of each role, signed), a commit signing key and an empty archive repo.
    /// Refuses a directory that already holds a factory, so keys are never overwritten.
    public static func create(at path: String, name: String = "otter", gatewayNames: [String] = ["localhost", "127.0.0.1"],
                              expiryDays: Int64 = 365) async throws -> FactoryDirectory {
        let directory = FactoryDirectory(creating: path)
        if FileManager.default.fileExists(atPath: directory.path + "/keys/tuf/root.key") {
            throw FactoryError("\(path) already holds a factory; its keys are left as they are")
        }
        for sub in ["keys/tuf", "keys/ostree", "tuf/ci", "pki"] {
            try FileManager.default.createDirectory(atPath: directory.path + "/" + sub, withIntermediateDirectories: true)
        }
        var keys: [String: [TUFSigningKey]] = [:]
        for role in Root.roleNames {
            let key = try TUFSigningKey.generate(.ed25519)
            try writeSecret(try key.privateText + "\n", to: directory.tufKeysDirectory + "/\(role).key")
            keys[role] = [key]
        }
        let expires = SystemClock().now().adding(seconds: expiryDays * 86400)
        let repository = try TUFRepository(consistentSnapshot: true, expires: expires, keys: keys)
        try repository.publishAll(root: true)
        try TargetsRepository.write(repository, to: directory.ciRepositoryPath)

        let signing = try Ed25519PrivateKey()
        try writeSecret(signing.ostreeBase64 + "\n", to: directory.ostreeSecretKeyPath)
        try Array((signing.publicKey.base64 + "\n").utf8).write(to: directory.ostreePublicKeyPath)
        _ = try Repo.create(at: directory.ostreeRepoPath, mode: .archive)
        try directory.createPKI(name: name, gatewayNames: gatewayNames)
        return directory
    }

    /// The online keys of each top-level role.
    public func onlineKeys() throws -> [String: [TUFSigningKey]] {
        var keys: [String: [TUFSigningKey]] = [:]
        for role in Root.roleNames {
            let file = tufKeysDirectory + "/\(role).key"
            guard let data = FileManager.default.contents(atPath: file) else {
                throw FactoryError("cannot read the \(role) key \(file)")
            }
            do { keys[role] = [try TUFSigningKey(privateText: String(decoding: data, as: UTF8.self))] } catch {
                throw FactoryError("\(file) is not a TUF private key: \(error)")
            }
        }
        return keys
    }

    public func ciRepository(expiryDays: Int64 = 365) throws -> TargetsRepository {
        try TargetsRepository(path: ciRepositoryPath, keys: onlineKeys(), expiryDays: expiryDays)
    }

    /// Root CA, device CA below it, and the gateway certificate for `gatewayNames` (DNS names
    /// and IPv4 addresses).
    func createPKI(name: String, gatewayNames: [String]) throws {
        let root = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "\(name) root CA", organization: name))
        let deviceCA = try root.issueAuthority(subject: DistinguishedName(commonName: "\(name) device CA", organization: name))
        let gatewayKey = try ECDSAP256PrivateKey()
        let isAddress = { (text: String) in text.split(separator: ".").count == 4 && text.allSatisfy { $0.isNumber || $0 == "." } }
        let gateway = try root.issueServer(subject: DistinguishedName(commonName: gatewayNames.first ?? "gateway", organization: name),
                                           key: gatewayKey, dnsNames: gatewayNames.filter { !isAddress($0) },
                                           ipAddresses: gatewayNames.filter(isAddress))
        for (file, certificate, key) in [("root", root.certificate, root.key), ("device-ca", deviceCA.certificate, deviceCA.key),
                                         ("gateway", gateway, gatewayKey)] {
            try Array(try certificate.pem.utf8).write(to: "\(pkiDirectory)/\(file).crt")
            try writeSecret(try key.pem, to: "\(pkiDirectory)/\(file).key")
        }
    }

    static func normalized(_ path: String) -> String {
        path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }
}

/// Writes a file only its owner can read (private keys).
func writeSecret(_ text: String, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
        throw FactoryError("cannot write \(path)")
    }
}

extension Array where Element == UInt8 {
    func write(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(self)) else {
            throw FactoryError("cannot write \(path)")
        }
    }
}
