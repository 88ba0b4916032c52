import Foundation

/// A throw-away PKI made with the openssl CLI: a CA with a server certificate for 127.0.0.1 and
/// a client certificate, and an unrelated CA with a client certificate of its own.
struct TestCertificates: Sendable {
    let directory: String

    var caCertificate: String { "\(directory)/ca.crt" }
    var serverCertificate: String { "\(directory)/server.crt" }
    var serverKey: String { "\(directory)/server.key" }
    var clientCertificate: String { "\(directory)/client.crt" }
    var clientKey: String { "\(directory)/client.key" }
    var otherCACertificate: String { "\(directory)/other-ca.crt" }
    var otherClientCertificate: String { "\(directory)/other-client.crt" }
    var otherClientKey: String { "\(directory)/other-client.key" }
    /// `sha256//<base64>` of the server's public key, and of an unrelated key.
    var serverPin: String { pin("server") }
    var unrelatedPin: String { pin("other-client") }

    private func pin(_ name: String) -> String {
        let base64 = (try? String(contentsOfFile: "\(directory)/\(name).pin", encoding: .utf8)) ?? ""
        return "sha256//" + base64.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct GenerationFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// Made once per test process.
    static let shared: Result<TestCertificates, GenerationFailed> = Result { try TestCertificates() }
        .mapError { GenerationFailed(description: "\($0)") }

    private init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-http-pki-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        let script = """
        set -e
        cd '\(directory)'
        key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
        ca() { key "$1.key"; openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2"; }
        leaf() { # name subject ca extensions
          key "$1.key"
          openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
          printf '%s\\n' "$4" > "$1.ext"
          openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
        }
        ca ca "Otter Test CA"
        ca other-ca "Unrelated Test CA"
        leaf server localhost ca "subjectAltName=IP:127.0.0.1,DNS:localhost
        extendedKeyUsage=serverAuth"
        leaf client device-1 ca "extendedKeyUsage=clientAuth"
        leaf other-client device-2 other-ca "extendedKeyUsage=clientAuth"
        pin() { openssl x509 -in "$1.crt" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64 > "$1.pin"; }
        pin server
        pin other-client
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw GenerationFailed(description: "openssl failed: \(text)")
        }
    }
}
