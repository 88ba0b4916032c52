import Foundation
import OCI
import OtterCrypto
import Testing
import TestSupport
@testable import Firmware

/// `otter-factory firmware publish|sign|serve` as an operator runs them, with keys made by the
/// openssl CLI, and the signatures checked by openssl as an independent peer.
@Suite struct FirmwareCommandTests {
    struct Keys {
        let privatePath: String
        let publicPath: String
    }

    /// A cosign-style key pair made by openssl (SEC1 `EC PRIVATE KEY`, SubjectPublicKeyInfo).
    static func opensslKeys(in directory: TempDir) throws -> Keys {
        let keys = Keys(privatePath: directory.path + "/cosign.key", publicPath: directory.path + "/cosign.pub")
        _ = try sh(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keys.privatePath])
        _ = try sh(["openssl", "ec", "-in", keys.privatePath, "-pubout", "-out", keys.publicPath])
        return keys
    }

    static func factory(_ args: [String], env: [String: String] = [:]) throws -> String {
        let result = try runProcess(builtProduct("otter-factory"), args, env: env)
        guard result.status == 0 else { throw FixtureError("otter-factory \(args.joined(separator: " ")) exited \(result.status): \(result.err)") }
        return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func signatureWrittenBySignVerifiesWithOpenSSL() async throws {
        let registry = try DistributionRegistry()
        try await registry.start()
        let directory = TempDir("otter-firmware-cli")
        let keys = try Self.opensslKeys(in: directory)
        let file = directory.path + "/app.bin"
        try Data(DistributionRegistry.randomBytes(70_000)).write(to: URL(fileURLWithPath: file))
        let env = ["REGISTRY_URL": "http://\(registry.registry)", "REPOSITORY_PREFIX": "firmware/"]
        let printed = try Self.factory(["firmware", "publish", file, "--device", "stm32-9", "--version", "v1.6.2",
                                        "--media-type", "application/vnd.st.stm32.firmware.v1+binary"], env: env)
        let reference = try Reference(parsing: printed)
        #expect(reference.repository == Repository(registry: registry.registry, name: "firmware/stm32-9"))
        let digest = try #require(reference.digest)
        let signatureTag = try Self.factory(["firmware", "sign", "--key", keys.privatePath, printed], env: env)
        #expect(signatureTag == "\(registry.registry)/firmware/stm32-9:sha256-\(digest.hex).sig")

        // The signature artifact, read back from the registry in cosign's layout.
        let client = try FirmwareRegistry(url: "http://\(registry.registry)").client()
        let signature = try #require(try await client.manifest(Reference(repository: reference.repository,
                                                                         tag: "sha256-\(digest.hex).sig")).image)
        #expect(signature.config.mediaType == "application/vnd.oci.image.config.v1+json")
        let layer = try #require(signature.layers.first)
        #expect(signature.layers.count == 1)
        #expect(layer.mediaType == "application/vnd.dev.cosign.simplesigning.v1+json")
        let blobs = try BlobStore(root: directory.path + "/blobs")
        _ = try await blobs.fetch(layer, from: client, repository: reference.repository)
        let payloadPath = blobs.path(of: layer.digest)
        let payload = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: payloadPath))) as? [String: Any]
        let critical = try #require(payload?["critical"] as? [String: Any])
        #expect((critical["image"] as? [String: String])?["docker-manifest-digest"] == digest.description)
        #expect((critical["identity"] as? [String: String])?["docker-reference"] == "\(registry.registry)/firmware/stm32-9")
        #expect(critical["type"] as? String == "cosign container image signature")
        #expect(payload?["optional"] is NSNull)

        let signaturePath = directory.path + "/sig.der"
        let encoded = try #require(layer.annotations?["dev.cosignproject.cosign/signature"])
        try #require(Data(base64Encoded: encoded)).write(to: URL(fileURLWithPath: signaturePath))
        let verified = try runProcess("/usr/bin/openssl", ["dgst", "-sha256", "-verify", keys.publicPath, "-signature", signaturePath, payloadPath])
        #expect(verified.status == 0)
        #expect(verified.out.contains("Verified OK"))
    }

    @Test func acceptsASignatureMadeByOpenSSLAndRejectsAnAlteredPayload() throws {
        let directory = TempDir("otter-firmware-openssl")
        let keys = try Self.opensslKeys(in: directory)
        let repository = Repository(registry: "127.0.0.1:5000", name: "firmware/esp32-1")
        let digest = OCIDigest.sha256(of: Array("manifest".utf8))
        let payload = CosignSignature.payload(for: digest, in: repository)
        let payloadPath = directory.path + "/payload.json", signaturePath = directory.path + "/sig.der"
        try Data(payload).write(to: URL(fileURLWithPath: payloadPath))
        _ = try sh(["openssl", "dgst", "-sha256", "-sign", keys.privatePath, "-out", signaturePath, payloadPath])
        let signature = try [UInt8](Data(contentsOf: URL(fileURLWithPath: signaturePath)))
        let publicKey = try ECDSAP256PublicKey(pem: String(contentsOfFile: keys.publicPath, encoding: .utf8))
        var layer = Descriptor.of(payload, mediaType: CosignSignature.payloadMediaType)
        layer.annotations = [CosignSignature.signatureAnnotation: Base64.encode(signature)]

        try CosignSignature.verify(layer: layer, payload: payload, signs: digest, with: publicKey)
        var altered = payload
        altered[altered.count - 3] ^= 0x01
        #expect(throws: FirmwareError.self) { try CosignSignature.verify(layer: layer, payload: altered, signs: digest, with: publicKey) }
        #expect(throws: FirmwareError.self) {
            try CosignSignature.verify(layer: layer, payload: payload, signs: OCIDigest.sha256(of: [1]), with: publicKey)
        }
    }

    @Test func serveTakesItsConfigurationFromTheEnvironment() async throws {
        let registry = try DistributionRegistry()
        try await registry.start()
        let directory = TempDir("otter-firmware-serve")
        let keys = try Self.opensslKeys(in: directory)
        let binary = DistributionRegistry.randomBytes(33_333)
        let file = directory.path + "/fw.bin"
        try Data(binary).write(to: URL(fileURLWithPath: file))
        let env = ["REGISTRY_URL": "http://\(registry.registry)", "REPOSITORY_PREFIX": "mcu/",
                   "COSIGN_PUB_KEY_PATH": keys.publicPath, "POLL_INTERVAL": "0.5", "FIRMWARE_CACHE": directory.path + "/cache"]
        let printed = try Self.factory(["firmware", "publish", file, "--device", "esp32-c3", "--version", "0.1.2"], env: env)
        _ = try Self.factory(["firmware", "sign", "--key", keys.privatePath, printed], env: env)

        let port = freeLoopbackPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: builtProduct("otter-factory"))
        server.arguments = ["firmware", "serve", "--address", "127.0.0.1:\(port)"]
        server.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let log = FileHandle(forWritingAtPath: "/dev/null")
        server.standardOutput = log
        server.standardError = log
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        for _ in 0..<200 where !acceptsConnections(port: port) { try await Task.sleep(for: .milliseconds(50)) }

        let version = try runProcess("/usr/bin/curl", ["-sS", "-f", "http://127.0.0.1:\(port)/version?device=esp32-c3"])
        #expect(version.status == 0, "\(version.err)")
        #expect(version.out == "0.1.2\n\(try CRC32Peer.zlib(file))\n33333\n")
        let firmware = directory.path + "/got.bin"
        let got = try runProcess("/usr/bin/curl", ["-sS", "-f", "-o", firmware, "http://127.0.0.1:\(port)/firmware?device=esp32-c3"])
        #expect(got.status == 0, "\(got.err)")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: firmware))) == binary)
    }
}

enum CRC32Peer {
    static func zlib(_ path: String) throws -> String {
        try runProcess("/usr/bin/env", ["python3", "-c", "import sys, zlib; print(zlib.crc32(open(sys.argv[1], 'rb').read()))", path])
            .out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
