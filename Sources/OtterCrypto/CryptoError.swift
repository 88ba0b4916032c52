import COpenSSL

/// A failure inside OtterCrypto, with OpenSSL's own reason when it gave one.
public struct CryptoError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    /// Builds an error from `what` plus the OpenSSL error queue, which it drains.
    static func openssl(_ what: String) -> CryptoError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return CryptoError(reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))")
    }

    public var description: String { message }
}
