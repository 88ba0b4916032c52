import Foundation
import Testing
import OtterCrypto

/// ECDSA P-256 and RSA-PSS checked against the `openssl` command line as an independent signer
/// and verifier.
@Suite struct PublicKeySignatureTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "otter-crypto-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func openssl(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func file(_ name: String) -> String { directory + "/" + name }
    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: file(name)))) }
    func readText(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }
    func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: file(name))) }

    let message = Array("{\"_type\":\"root\",\"version\":1}".utf8)

    @Test func verifiesECDSASignaturesMadeByOpenSSL() throws {
        try write("msg", message)
        #expect(try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file("ec.pem")]) == 0)
        #expect(try openssl(["pkey", "-in", file("ec.pem"), "-pubout", "-out", file("ec.pub")]) == 0)
        #expect(try openssl(["dgst", "-sha256", "-sign", file("ec.pem"), "-out", file("sig"), file("msg")]) == 0)
        let key = try ECDSAP256PublicKey(pem: try readText("ec.pub"))
        let signature = try read("sig")
        #expect(key.isValidSignature(signature, for: message))
        #expect(!key.isValidSignature(signature, for: message + [0x20]))
        var flipped = signature
        flipped[flipped.count - 1] ^= 1
        #expect(!key.isValidSignature(flipped, for: message))
    }

    @Test func ecdsaSignaturesVerifyWithOpenSSL() throws {
        let key = try ECDSAP256PrivateKey()
        try write("msg", message)
        try write("sig", try key.signature(for: message))
        try write("pub.pem", Array(try key.publicKey.pem.utf8))
        #expect(try openssl(["dgst", "-sha256", "-verify", file("pub.pem"), "-signature", file("sig"), file("msg")]) == 0)
        // PEM round trip of the private key.
        let again = try ECDSAP256PrivateKey(pem: try key.pem)
        #expect(try again.publicKey.pem == key.publicKey.pem)
    }

    @Test func verifiesRSAPSSWithSalt32AndOtherSaltLengths() throws {
        try write("msg", message)
        #expect(try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", file("rsa.pem")]) == 0)
        #expect(try openssl(["pkey", "-in", file("rsa.pem"), "-pubout", "-out", file("rsa.pub")]) == 0)
        let key = try RSAPublicKey(pem: try readText("rsa.pub"))
        #expect(key.bits == 3072)
        for salt in ["32", "max", "0"] {
            #expect(try openssl(["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:\(salt)",
                                 "-sigopt", "rsa_mgf1_md:sha256", "-sign", file("rsa.pem"), "-out", file("sig-\(salt)"), file("msg")]) == 0)
            #expect(key.isValidPSSSignature(try read("sig-\(salt)"), for: message), "salt \(salt)")
            #expect(!key.isValidPSSSignature(try read("sig-\(salt)"), for: message + [0x20]))
        }
        // PKCS#1 v1.5 is another scheme: refused.
        #expect(try openssl(["dgst", "-sha256", "-sign", file("rsa.pem"), "-out", file("sig-pkcs1"), file("msg")]) == 0)
        #expect(!key.isValidPSSSignature(try read("sig-pkcs1"), for: message))
    }

    @Test func rsaPSSSignaturesVerifyWithOpenSSLAtSalt32() throws {
        let key = try RSAPrivateKey(bits: 2048)
        try write("msg", message)
        try write("sig", try key.pssSignature(for: message))
        try write("pub.pem", Array(try key.publicKey.pem.utf8))
        #expect(try openssl(["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                             "-verify", file("pub.pem"), "-signature", file("sig"), file("msg")]) == 0)
    }

    @Test func verifiesEd25519SignaturesMadeByOpenSSL() throws {
        try write("msg", message)
        #expect(try openssl(["genpkey", "-algorithm", "ED25519", "-out", file("ed.pem")]) == 0)
        #expect(try openssl(["pkey", "-in", file("ed.pem"), "-pubout", "-outform", "DER", "-out", file("ed.der")]) == 0)
        #expect(try openssl(["pkeyutl", "-sign", "-rawin", "-inkey", file("ed.pem"), "-in", file("msg"), "-out", file("sig")]) == 0)
        let key = try Ed25519PublicKey(raw: Array(try read("ed.der").suffix(32)))
        #expect(key.isValidSignature(try read("sig"), for: message))
        #expect(!key.isValidSignature(try read("sig"), for: message + [0x20]))
    }

    @Test func refusesKeysOfTheWrongKind() throws {
        #expect(try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", file("p384.pem")]) == 0)
        #expect(try openssl(["pkey", "-in", file("p384.pem"), "-pubout", "-out", file("p384.pub")]) == 0)
        #expect(throws: CryptoError.self) { try ECDSAP256PublicKey(pem: try readText("p384.pub")) }
        #expect(throws: CryptoError.self) { try RSAPublicKey(pem: try readText("p384.pub")) }
        #expect(throws: CryptoError.self) { try ECDSAP256PublicKey(pem: "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n") }
        #expect(throws: CryptoError.self) { try ECDSAP256PublicKey(pem: "") }
    }
}
