import OtterCrypto

/// A private key the repository side signs metadata with.
public struct TUFSigningKey: Sendable {
    public enum KeyType: String, Sendable, CaseIterable { case ed25519, ecdsa, rsa }

    enum Material: Sendable {
        case ed25519(Ed25519PrivateKey)
        case ecdsa(ECDSAP256PrivateKey)
        case rsa(RSAPrivateKey)
    }

    let material: Material
    public let publicKey: TUFKey
    /// The securesystemslib key id: hex SHA-256 of the canonical public key object.
    public let keyid: String

    init(_ material: Material) throws {
        self.material = material
        switch material {
        case .ed25519(let k):
            publicKey = TUFKey(keytype: "ed25519", scheme: "ed25519", publicValue: Hex.encode(k.publicKey.raw))
        case .ecdsa(let k):
            publicKey = TUFKey(keytype: "ecdsa", scheme: "ecdsa-sha2-nistp256", publicValue: try k.publicKey.pem)
        case .rsa(let k):
            publicKey = TUFKey(keytype: "rsa", scheme: "rsassa-pss-sha256", publicValue: try k.publicKey.pem)
        }
        keyid = Hex.encode(Digest.sha256(JSONWriter.canonical(.object(publicKey.json))))
    }

    public static func generate(_ type: KeyType) throws -> TUFSigningKey {
        switch type {
        case .ed25519: try TUFSigningKey(.ed25519(Ed25519PrivateKey()))
        case .ecdsa: try TUFSigningKey(.ecdsa(ECDSAP256PrivateKey()))
        case .rsa: try TUFSigningKey(.rsa(RSAPrivateKey()))
        }
    }

    public init(ed25519 key: Ed25519PrivateKey) throws { try self.init(.ed25519(key)) }

    /// Loads a PEM private key (PKCS#8; ECDSA P-256 or RSA).
    public init(pem: String) throws {
        if let ec = try? ECDSAP256PrivateKey(pem: pem) {
            try self.init(.ecdsa(ec))
        } else {
            try self.init(.rsa(RSAPrivateKey(pem: pem)))
        }
    }

    /// Loads what `privateText` wrote: a 64-hex-digit ed25519 seed, or a PEM private key.
    public init(privateText text: String) throws {
        let trimmed = text.filter { !$0.isWhitespace }
        if trimmed.count == 64, let seed = Hex.decode(trimmed) {
            try self.init(.ed25519(Ed25519PrivateKey(seed: seed)))
        } else {
            try self.init(pem: text)
        }
    }

    /// The private key as text: PEM for ECDSA and RSA, the hex seed for ed25519.
    public var privateText: String {
        get throws {
            switch material {
            case .ed25519(let k): Hex.encode(k.seed)
            case .ecdsa(let k): try k.pem
            case .rsa(let k): try k.pem
            }
        }
    }

    /// The hex signature over `payload` (canonical JSON of a `signed` object).
    public func sign(_ payload: [UInt8]) throws -> String {
        switch material {
        case .ed25519(let k): Hex.encode(try k.signature(for: payload))
        case .ecdsa(let k): Hex.encode(try k.signature(for: payload))
        case .rsa(let k): Hex.encode(try k.pssSignature(for: payload))
        }
    }
}
