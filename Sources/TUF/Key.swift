import OtterCrypto

/// A public key as TUF metadata lists it (`keytype`, `scheme`, `keyval.public`), with every
/// other member kept in `json` so it stays part of the signed bytes.
public struct TUFKey: Sendable {
    public let keytype: String
    public let scheme: String
    public let publicValue: String
    public let json: JSONObject

    enum Verifier: Sendable {
        case ed25519(Ed25519PublicKey)
        case ecdsa(ECDSAP256PublicKey)
        case rsaPSS(RSAPublicKey)
        /// An unknown key type or scheme, or key material that does not parse: its signatures
        /// never count, but its presence is no error (TUF-CLIENT-CLI §8.1).
        case unusable
    }

    let verifier: Verifier

    init(json: JSONObject, context: String) throws(TUFError) {
        guard let keytype = json["keytype"]?.stringValue,
              let scheme = json["scheme"]?.stringValue,
              let keyval = json["keyval"]?.objectValue,
              let publicValue = keyval["public"]?.stringValue
        else {
            throw TUFError(.malformed, "\(context): a key needs string keytype, scheme and keyval.public")
        }
        self.keytype = keytype
        self.scheme = scheme
        self.publicValue = publicValue
        self.json = json
        self.verifier = Self.makeVerifier(keytype: keytype, scheme: scheme, public: publicValue)
    }

    public init(keytype: String, scheme: String, publicValue: String) {
        var keyval = JSONObject()
        keyval["public"] = .string(publicValue)
        var json = JSONObject()
        json["keytype"] = .string(keytype)
        json["scheme"] = .string(scheme)
        json["keyval"] = .object(keyval)
        self.keytype = keytype
        self.scheme = scheme
        self.publicValue = publicValue
        self.json = json
        self.verifier = Self.makeVerifier(keytype: keytype, scheme: scheme, public: publicValue)
    }

    private static func makeVerifier(keytype: String, scheme: String, public material: String) -> Verifier {
        switch (keytype, scheme) {
        case ("ed25519", "ed25519"):
            guard material.utf8.count == 64, let raw = Hex.decode(material),
                  let key = try? Ed25519PublicKey(raw: raw) else { return .unusable }
            return .ed25519(key)
        case ("ecdsa", "ecdsa-sha2-nistp256"), ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"):
            guard let key = try? ECDSAP256PublicKey(pem: material) else { return .unusable }
            return .ecdsa(key)
        case ("rsa", "rsassa-pss-sha256"):
            guard let key = try? RSAPublicKey(pem: material) else { return .unusable }
            return .rsaPSS(key)
        default:
            return .unusable
        }
    }

    /// Whether `signature` (already hex-decoded) is this key's signature over `payload`.
    public func verifies(_ signature: [UInt8], over payload: [UInt8]) -> Bool {
        payload.withUnsafeBytes { verifies(signature, overBytes: $0) }
    }

    public func verifies(_ signature: [UInt8], overBytes payload: UnsafeRawBufferPointer) -> Bool {
        switch verifier {
        case .ed25519(let key): key.isValidSignature(signature, forBytes: payload)
        case .ecdsa(let key): key.isValidSignature(signature, forBytes: payload)
        case .rsaPSS(let key): key.isValidPSSSignature(signature, forBytes: payload)
        case .unusable: false
        }
    }

    public var isUsable: Bool {
        if case .unusable = verifier { false } else { true }
    }
}
