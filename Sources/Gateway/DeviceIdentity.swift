import Factory
import OtterCrypto

/// Who a request comes from, read from its verified client certificate (REFERENCE §3): the
/// UUID is the subject CN, a production device has `businessCategory=production`.
public struct DeviceIdentity: Sendable, Equatable {
    public var uuid: String
    public var isProduction: Bool
    /// The certificate's public key, PEM SubjectPublicKeyInfo: the one key accepted for `uuid`.
    public var publicKeyPEM: String

    public init(uuid: String, isProduction: Bool, publicKeyPEM: String) {
        self.uuid = uuid
        self.isProduction = isProduction
        self.publicKeyPEM = publicKeyPEM
    }

    /// The identity in a device certificate; throws when it has no usable CN.
    public init(certificate: Certificate) throws {
        let subject = certificate.subject
        guard let cn = subject.commonName, Self.isValidUUID(cn) else {
            throw FactoryError("the client certificate \(subject) has no device UUID as its CN")
        }
        self.init(uuid: cn, isProduction: subject["businessCategory"] == "production",
                  publicKeyPEM: try certificate.publicKeyPEM)
    }

    /// Device UUIDs are what the reference tools generate (RFC 4122 text), but any short token of
    /// letters, digits, `-` and `_` is accepted so existing fleets keep their names.
    public static func isValidUUID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F
        }
    }
}
