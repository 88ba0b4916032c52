import OtterCrypto

/// User name and password (or a registry token as password) for one registry.
public struct RegistryCredentials: Sendable, Hashable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    var basicAuthorization: String {
        "Basic " + Base64.encode(Array("\(username):\(password)".utf8))
    }
}

/// One `WWW-Authenticate` challenge (RFC 9110 §11.6.1): a scheme and its auth-params.
struct AuthChallenge: Equatable {
    var scheme: String
    var parameters: [String: String]

    /// Every challenge in the header values, e.g.
    /// `Bearer realm="https://auth/token",service="registry",scope="repository:app:pull"`.
    static func parse(_ values: [String]) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        for value in values {
            var scanner = Scanner(Array(value.utf8))
            while !scanner.atEnd {
                scanner.skip { $0 == 0x20 || $0 == 0x2C || $0 == 0x09 }
                let scheme = scanner.token()
                guard !scheme.isEmpty else { break }
                var parameters: [String: String] = [:]
                while true {
                    scanner.skip { $0 == 0x20 || $0 == 0x09 }
                    let mark = scanner.position
                    let name = scanner.token()
                    scanner.skip { $0 == 0x20 }
                    guard !name.isEmpty, scanner.consume(UInt8(ascii: "=")) else {
                        scanner.position = mark  // the next challenge's scheme
                        break
                    }
                    scanner.skip { $0 == 0x20 }
                    parameters[name.lowercased()] = scanner.peek == UInt8(ascii: "\"") ? scanner.quoted() : scanner.token()
                    scanner.skip { $0 == 0x20 || $0 == 0x09 }
                    if !scanner.consume(UInt8(ascii: ",")) { break }
                }
                challenges.append(AuthChallenge(scheme: scheme.lowercased(), parameters: parameters))
            }
        }
        return challenges
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { position >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[position] }
        mutating func skip(_ predicate: (UInt8) -> Bool) {
            while let byte = peek, predicate(byte) { position += 1 }
        }
        mutating func consume(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            position += 1
            return true
        }
        /// An RFC 9110 token (also accepting token68 '/' and '=' padding is not needed here).
        mutating func token() -> String {
            let start = position
            skip { byte in
                !(byte == 0x20 || byte == 0x09 || byte == 0x2C || byte == 0x3D || byte == 0x22)
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
        mutating func quoted() -> String {
            position += 1
            var out: [UInt8] = []
            while let byte = peek {
                position += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\"), let next = peek { out.append(next); position += 1; continue }
                out.append(byte)
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

/// Percent-encoding of a query value (RFC 3986 unreserved characters stay).
func percentEncoded(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            out += "%" + Hex.encode([byte]).uppercased()
        }
    }
    return out
}
