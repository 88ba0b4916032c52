import Foundation
import Testing
@testable import TUF
import OtterCrypto

@Suite struct SignatureTests {
    @Test(arguments: TUFSigningKey.KeyType.allCases)
    func refreshesWithEachKeyType(_ type: TUFSigningKey.KeyType) async throws {
        let harness = try Harness(try .small(type))
        #expect(await harness.refresh() == nil)
        #expect(harness.version(of: "targets.json") == 1)
    }

    /// Keys made and metadata signed by the `openssl` command line, verified by the client.
    @Test(arguments: ["ed25519", "ecdsa", "rsa"])
    func verifiesSignaturesMadeByOpenSSL(_ type: String) throws {
        let dir = try temporaryDirectory()
        let openssl = "/usr/bin/openssl"
        switch type {
        case "ed25519": #expect(try run(openssl, ["genpkey", "-algorithm", "ED25519", "-out", dir + "/k.pem"]).status == 0)
        case "ecdsa": #expect(try run(openssl, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir + "/k.pem"]).status == 0)
        default: #expect(try run(openssl, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", dir + "/k.pem"]).status == 0)
        }
        let key: TUFKey
        if type == "ed25519" {
            let der = try run(openssl, ["pkey", "-in", dir + "/k.pem", "-pubout", "-outform", "DER"]).output
            key = TUFKey(keytype: "ed25519", scheme: "ed25519", publicValue: Hex.encode(der.suffix(32)))
        } else {
            let pem = String(decoding: try run(openssl, ["pkey", "-in", dir + "/k.pem", "-pubout"]).output, as: UTF8.self)
            key = type == "ecdsa" ? TUFKey(keytype: "ecdsa", scheme: "ecdsa-sha2-nistp256", publicValue: pem)
                : TUFKey(keytype: "rsa", scheme: "rsassa-pss-sha256", publicValue: pem)
        }
        #expect(key.isUsable)
        let signed = JSONObject(["_type": .string("targets"), "spec_version": .string("1.0.0"), "version": .integer(1),
                                 "expires": .string("2100-01-01T00:00:00Z"), "targets": .object(JSONObject()),
                                 "x-unknown": .array([.bool(true), .null])])
        let payload = JSONWriter.canonical(.object(signed))
        try Data(payload).write(to: URL(fileURLWithPath: dir + "/payload"))
        let signature: [UInt8]
        switch type {
        case "ed25519":
            signature = try run(openssl, ["pkeyutl", "-sign", "-rawin", "-inkey", dir + "/k.pem", "-in", dir + "/payload"]).output
        case "ecdsa":
            signature = try run(openssl, ["dgst", "-sha256", "-sign", dir + "/k.pem", dir + "/payload"]).output
        default:
            signature = try run(openssl, ["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                                          "-sign", dir + "/k.pem", dir + "/payload"]).output
        }
        let envelope = JSON.object(JSONObject(["signed": .object(signed), "signatures": .array([
            .object(JSONObject(["keyid": .string("k1"), "sig": .string(Hex.encode(signature))]))])]))
        let md = try Metadata<TargetsRole>(json: envelope, role: "targets")
        try md.verify(RoleKeys(keyids: ["k1"], threshold: 1), keys: ["k1": key], payload: md.payload(), role: "targets", by: "test")
        // The same signature over other bytes fails.
        var tampered = signed
        tampered["x-unknown"] = .null
        let bad = try Metadata<TargetsRole>(json: .object(JSONObject(["signed": .object(tampered), "signatures": envelope["signatures"]!])), role: "targets")
        #expect(throws: TUFError.self) {
            try bad.verify(RoleKeys(keyids: ["k1"], threshold: 1), keys: ["k1": key], payload: bad.payload(), role: "targets", by: "test")
        }
    }

    @Test func acceptsTheOldECDSAKeytypeSpelling() throws {
        let key = try TUFSigningKey.generate(.ecdsa)
        let alias = TUFKey(keytype: "ecdsa-sha2-nistp256", scheme: "ecdsa-sha2-nistp256", publicValue: key.publicKey.publicValue)
        let payload = bytes("payload")
        #expect(alias.verifies(Hex.decode(try key.sign(payload))!, over: payload))
    }

    /// Builds timestamp metadata with `signatures` replaced, for threshold checks.
    func timestamp(_ repository: TUFRepository, signatures: [(String, String)]) throws -> Metadata<TimestampRole> {
        try repository.publishAll(root: true)
        var envelope = try JSONParser().parse(repository.metadata["timestamp.json"]!).objectValue!
        envelope["signatures"] = .array(signatures.map { .object(JSONObject(["keyid": .string($0.0), "sig": .string($0.1)])) })
        return try Metadata<TimestampRole>(json: .object(envelope), role: "timestamp")
    }

    @Test func rejectsDuplicateSignatureKeyIDsEvenAboveThreshold() throws {
        let repository = try TUFRepository.small()
        try repository.publishAll(root: true)
        let key = repository.signers["timestamp"]![0]
        let sig = try key.sign(JSONWriter.canonical(.object(repository.signed["timestamp"]!)))
        #expect(throws: TUFError(.malformed, "timestamp: key id \(key.keyid) signs more than once")) {
            _ = try timestamp(repository, signatures: [(key.keyid, sig), (key.keyid, sig)])
        }
    }

    @Test func countsDistinctValidKeysTowardsTheThreshold() throws {
        let keys = try (0..<3).map { _ in try TUFSigningKey.generate(.ed25519) }
        let repository = try TUFRepository.small()
        repository.rotateKeys(of: "timestamp", to: keys, threshold: 2)
        try repository.publishAll(root: true)
        let payload = JSONWriter.canonical(.object(repository.signed["timestamp"]!))
        let root = try Metadata<Root>.parse(repository.metadata["root.json"]!, role: "root").signed
        func check(_ signatures: [(String, String)]) throws -> Bool {
            let md = try timestamp(repository, signatures: signatures)
            return (try? md.verify(root.keys(for: "timestamp"), keys: root.keys, payload: md.payload(), role: "t", by: "root")) != nil
        }
        let outsider = try TUFSigningKey.generate(.ed25519)
        let good = try keys.map { try $0.sign(payload) }
        #expect(try check([(keys[0].keyid, good[0]), (keys[1].keyid, good[1])]))
        #expect(try !check([(keys[0].keyid, good[0])]))
        // Wrong, empty, non-hex and outsider signatures do not count (and are no error).
        #expect(try !check([(keys[0].keyid, good[0]), (keys[1].keyid, good[2])]))
        #expect(try !check([(keys[0].keyid, good[0]), (keys[1].keyid, "")]))
        #expect(try !check([(keys[0].keyid, good[0]), (keys[1].keyid, "zz")]))
        #expect(try !check([(keys[0].keyid, good[0]), (outsider.keyid, try outsider.sign(payload))]))
        #expect(try check([(outsider.keyid, try outsider.sign(payload)), (keys[2].keyid, good[2]), (keys[0].keyid, good[0])]))
    }

    @Test func unknownKeyTypesDoNotCountAndAreNoError() async throws {
        let repository = try TUFRepository.small()
        var root = repository.signed["root"]!
        var keys = root["keys"]!.objectValue!
        keys["unknown"] = .object(JSONObject(["keytype": .string("sphincs"), "scheme": .string("sphincs-shake"),
                                              "keyval": .object(JSONObject(["public": .string("00")]))]))
        root["keys"] = .object(keys)
        var roles = root["roles"]!.objectValue!
        var timestampRole = roles["timestamp"]!.objectValue!
        timestampRole["keyids"] = .array(timestampRole["keyids"]!.arrayValue! + [.string("unknown")])
        roles["timestamp"] = .object(timestampRole)
        root["roles"] = .object(roles)
        repository.signed["root"] = root
        #expect(await (try Harness(repository)).refresh() == nil)
        // With threshold 2 the unknown key cannot make up the second signature.
        timestampRole["threshold"] = .integer(2)
        roles["timestamp"] = .object(timestampRole)
        root["roles"] = .object(roles)
        repository.signed["root"] = root
        #expect(await (try Harness(repository)).refresh() == .unsignedThreshold)
    }

    @Test func rejectsDuplicateKeyIDsInARole() async throws {
        let repository = try TUFRepository.small()
        var root = repository.signed["root"]!
        var roles = root["roles"]!.objectValue!
        var role = roles["snapshot"]!.objectValue!
        let id = role["keyids"]!.arrayValue![0]
        role["keyids"] = .array([id, id])
        roles["snapshot"] = .object(role)
        root["roles"] = .object(roles)
        repository.signed["root"] = root
        #expect(await (try Harness(repository)).refresh() == .malformed)
    }

    @Test func rejectsAThresholdBelowOne() async throws {
        let repository = try TUFRepository.small()
        var root = repository.signed["root"]!
        var roles = root["roles"]!.objectValue!
        var role = roles["targets"]!.objectValue!
        role["threshold"] = .integer(0)
        roles["targets"] = .object(role)
        root["roles"] = .object(roles)
        repository.signed["root"] = root
        #expect(await (try Harness(repository)).refresh() == .malformed)
    }

    @Test func signsOverUnknownFieldsEverywhere() async throws {
        let repository = try TUFRepository.small()
        var root = repository.signed["root"]!
        root["x-custom"] = .object(JSONObject(["nested": .array([.integer(1), .bool(false), .null])]))
        var keys = root["keys"]!.objectValue!
        for key in keys.keys {
            var k = keys[key]!.objectValue!
            k["x-tuf-on-ci-keyowner"] = .string("@someone")
            k["keyid_hash_algorithms"] = .array([.string("sha256"), .string("sha512")])
            keys[key] = .object(k)
        }
        root["keys"] = .object(keys)
        var roles = root["roles"]!.objectValue!
        var role = roles["root"]!.objectValue!
        role["x-role-field"] = .bool(true)
        roles["root"] = .object(role)
        root["roles"] = .object(roles)
        repository.signed["root"] = root
        repository.addTarget("custom.bin", content: bytes("x"), custom: .object(JSONObject(["version": .string("42"), "cliUploaded": .bool(true), "n": .integer(0)])))
        let harness = try Harness(repository)
        #expect(await harness.refresh() == nil)

        // An unknown field altered after signing breaks the signature.
        let tampered = String(decoding: repository.metadata["1.targets.json"]!, as: UTF8.self)
            .replacingOccurrences(of: "\"cliUploaded\":true", with: "\"cliUploaded\":false")
        let h2 = try Harness(repository)
        h2.transport.setMetadata("1.targets.json", bytes(tampered))
        #expect(await h2.refresh() == .unsignedThreshold)
    }
}
