import Foundation
import OSTree
import OtterCrypto
import Testing
import TestSupport

@Suite struct SignatureTests {
    @Test func signatureIsTheUpstreamFormatAndOpenSSLVerifiesIt() async throws {
        let tmp = TempDir()
        let server = try ServerRepo(at: tmp.sub("server"))
        try makeRootfs(at: tmp.sub("r1"), version: "1")
        let c1 = try server.commit(tmp.path + "/r1", version: "1")
        let key = try SigningKey(in: tmp.path)
        let repo = try Repo.open(at: server.path)
        try await repo.sign(commit: c1, with: key.key)

        // ostree itself sees the detached metadata key ...
        let shown = try sh(["ostree", "show", "--repo=\(server.path)", "--print-detached-metadata-key=ostree.sign.ed25519", c1])
        #expect(shown.hasPrefix("["))
        #expect(try await repo.commit(c1).detachedMetadataKeys == ["ostree.sign.ed25519"])

        // ... and OpenSSL, independently, verifies the signature over the commit object bytes.
        let signature = try #require(Self.firstSignature(fromVariantText: shown))
        #expect(signature.count == 64)
        try Data(signature).write(to: URL(fileURLWithPath: tmp.path + "/sig"))
        let spki = Hex.decode("302a300506032b6570032100")! + key.key.publicKey.raw
        try write("-----BEGIN PUBLIC KEY-----\n\(Base64.encode(spki))\n-----END PUBLIC KEY-----\n", to: tmp.path + "/pub.pem")
        let verified = try sh(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", tmp.path + "/pub.pem", "-rawin",
                               "-in", server.objectPath(c1, "commit"), "-sigfile", tmp.path + "/sig"])
        #expect(verified.contains("Signature Verified Successfully"))

        #expect(try await repo.verifySignature(of: c1, trustedKeys: [key.key.publicKey]) == key.key.publicKey)
    }

    @Test func unsignedAndWronglySignedCommitsAreRejected() async throws {
        let tmp = TempDir()
        let server = try ServerRepo(at: tmp.sub("server"))
        try makeRootfs(at: tmp.sub("r1"), version: "1")
        let c1 = try server.commit(tmp.path + "/r1", version: "1")
        let trusted = try Ed25519PrivateKey()
        let stranger = try Ed25519PrivateKey()
        let repo = try Repo.open(at: server.path)

        let unsigned = await #expect(throws: OSTreeError.self) {
            try await repo.verifySignature(of: c1, trustedKeys: [trusted.publicKey])
        }
        #expect(unsigned?.message.contains("is not signed") == true)

        try await repo.sign(commit: c1, with: stranger)
        let wrong = await #expect(throws: OSTreeError.self) {
            try await repo.verifySignature(of: c1, trustedKeys: [trusted.publicKey])
        }
        #expect(wrong?.message.contains("not signed by any trusted key") == true)

        // A second signature is appended, not replacing the first.
        try await repo.sign(commit: c1, with: trusted)
        #expect(try await repo.verifySignature(of: c1, trustedKeys: [trusted.publicKey]) == trusted.publicKey)
        #expect(try await repo.verifySignature(of: c1, trustedKeys: [stranger.publicKey]) == stranger.publicKey)

        let none = await #expect(throws: OSTreeError.self) { try await repo.verifySignature(of: c1, trustedKeys: []) }
        #expect(none?.message.contains("no trusted ed25519 keys") == true)
    }

    @Test func keyFilesUseOstreeFormat() throws {
        let tmp = TempDir()
        let a = try SigningKey(in: tmp.path, name: "a")
        let b = try Ed25519PrivateKey()
        try write("# fleet keys\n\n\(b.publicKey.base64)\n", to: tmp.sub("trusted.ed25519.d") + "/fleet")
        let keys = try CommitSignature.loadTrustedKeys(files: [a.publicFile], directories: [tmp.path + "/trusted.ed25519.d", "/nonexistent"])
        #expect(keys == [a.key.publicKey, b.publicKey])
        #expect(try CommitSignature.loadSecretKey(file: a.secretFile).publicKey == a.key.publicKey)
        try write("not base64!\n", to: tmp.path + "/bad")
        let error = #expect(throws: OSTreeError.self) { try CommitSignature.loadTrustedKeys(files: [tmp.path + "/bad"]) }
        #expect(error?.message.contains("line 1") == true)
    }

    /// Parses the GVariant text `ostree show` prints for an `aay` into its first element: either
    /// `[[byte 0x01, 0x02, …]]` or, when GLib prints it as a bytestring, `[b"…"]` with C escapes.
    static func firstSignature(fromVariantText text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard let start = chars.indices.first(where: { i in
            i + 1 < chars.count && chars[i] == UInt8(ascii: "b") && (chars[i + 1] == UInt8(ascii: "\"") || chars[i + 1] == UInt8(ascii: "'"))
        }) else {
            let hex = text.components(separatedBy: "0x").dropFirst().compactMap { UInt8($0.prefix(2), radix: 16) }
            return hex.count >= 64 ? Array(hex.prefix(64)) : nil
        }
        let quote = chars[start + 1]
        var out: [UInt8] = []
        var i = start + 2
        let escapes: [UInt8: UInt8] = [UInt8(ascii: "a"): 7, UInt8(ascii: "b"): 8, UInt8(ascii: "f"): 12, UInt8(ascii: "n"): 10,
                                       UInt8(ascii: "r"): 13, UInt8(ascii: "t"): 9, UInt8(ascii: "v"): 11]
        while i < chars.count, chars[i] != quote {
            if chars[i] == UInt8(ascii: "\\"), i + 1 < chars.count {
                let next = chars[i + 1]
                if (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(next) {
                    var value = 0
                    var n = 0
                    while n < 3, i + 1 + n < chars.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(chars[i + 1 + n]) {
                        value = value * 8 + Int(chars[i + 1 + n] - UInt8(ascii: "0"))
                        n += 1
                    }
                    out.append(UInt8(value & 0xff))
                    i += 1 + n
                    continue
                }
                out.append(escapes[next] ?? next)
                i += 2
                continue
            }
            out.append(chars[i])
            i += 1
        }
        // GLib prints an `ay` as b'…' only when it ends in its one NUL byte, and leaves that
        // byte out (a signature ending in 0x00, one in 256).
        return out + [0]
    }
}

@Suite struct VariantTextParsingTests {
    @Test func parsesBothWaysGLibPrintsBytes() {
        #expect(SignatureTests.firstSignature(fromVariantText: #"[b"A\\\"\n\001\377z"]"#) == [65, 92, 34, 10, 1, 255, 122, 0])
        let list = (0..<64).map { String(format: "0x%02x", $0) }.joined(separator: ", ")
        #expect(SignatureTests.firstSignature(fromVariantText: "[[byte \(list)]]") == Array(0..<64))
    }
}
