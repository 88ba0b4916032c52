import Foundation
import OtterCrypto
import Testing
import TestSupport

/// The device gateway over real TLS on 127.0.0.1, with curl and openssl s_client as the
/// independent clients.
@Suite(.serialized) struct GatewayTLSTests {
    @Test func handshakeRefusesMissingForeignAndExpiredClientCertificates() throws {
        let gateway = try GatewayFixture()
        let good = try gateway.device()

        let ok = try gateway.curl("/device", as: good)
        #expect(ok.status == 200, "\(ok.error) \(ok.body)")

        let none = try gateway.curl("/device", as: nil)
        #expect(none.status == nil && none.exitCode != 0, "without a certificate: \(none.status.map(String.init) ?? "no HTTP") \(none.body)")

        let otherCA = try CertificateAuthority.makeRoot(subject: DistinguishedName(commonName: "other CA", organization: "other"))
        let foreign = try gateway.curl("/device", as: try gateway.device(ca: otherCA))
        #expect(foreign.status == nil && foreign.exitCode != 0, "foreign CA: \(foreign.body)")

        let expired = try gateway.curl("/device", as: try gateway.device(validityDays: -1))
        #expect(expired.status == nil && expired.exitCode != 0, "expired: \(expired.body)")

        // A certificate signed by the root CA itself (not the device CA) passes TLS but is no device.
        let root = try CertificateAuthority(
            certificate: Certificate(pem: String(contentsOfFile: gateway.rootCA, encoding: .utf8)),
            key: ECDSAP256PrivateKey(pem: String(contentsOfFile: gateway.factory + "/pki/root.key", encoding: .utf8)))
        let rootSigned = try gateway.curl("/device", as: try gateway.device(ca: root))
        #expect(rootSigned.status == nil || rootSigned.status == 403, "root-signed: \(rootSigned.status.map(String.init) ?? "none")")
        #expect(rootSigned.status != 200)

        // openssl s_client, TLS 1.2 so the refusal is part of the handshake itself.
        func sClient(_ device: GatewayFixture.DeviceFiles?) throws -> (status: Int32, out: String) {
            var args = ["-c", "echo | openssl s_client -tls1_2 -connect 127.0.0.1:\(gateway.port) -CAfile \(gateway.rootCA)"]
            if let device { args[1] += " -cert \(device.certificate) -key \(device.key)" }
            args[1] += " 2>&1"
            let result = try runProcess("/bin/bash", args)
            return (result.status, result.out)
        }
        let withCert = try sClient(good)
        #expect(withCert.out.contains("Verify return code: 0"), "\(withCert.out)")
        #expect(!withCert.out.contains("alert"), "\(withCert.out)")
        let withoutCert = try sClient(nil)
        #expect(withoutCert.status != 0 || withoutCert.out.contains("alert"), "\(withoutCert.out)")
        #expect(withoutCert.out.contains("alert"), "\(withoutCert.out)")

        // TLS 1.1 is refused.
        let old = try runProcess("/usr/bin/curl", ["-sS", "--tlsv1.1", "--tls-max", "1.1", "--cacert", gateway.rootCA,
                                                   "--cert", good.certificate, "--key", good.key, gateway.url + "/device"])
        #expect(old.status != 0)
    }

    @Test func repoServesTheCIRepositoryWithRoleChecksumsToTestDevicesOnly() throws {
        let gateway = try GatewayFixture()
        let device = try gateway.device()
        let headers = ["x-ats-tags": "main,beta", "x-ats-target": "qemu-x86-lmp-1", "x-ats-ostreehash": String(repeating: "ab", count: 32),
                       "x-ats-dockerapps": "shellhttpd,nginx"]
        let timestamp = try gateway.curl("/repo/timestamp.json", as: device, headers: headers)
        let onDisk = try String(contentsOfFile: gateway.factory + "/tuf/ci/timestamp.json", encoding: .utf8)
        #expect(timestamp.status == 200)
        #expect(timestamp.body == onDisk)
        #expect(timestamp.headers["x-ats-role-checksum"] == Hex.encode(Digest.sha256(Array(onDisk.utf8))))
        #expect(timestamp.headers["content-type"] == "application/json")

        // A re-signed repository is served at once (no stale cached copy).
        try gateway.factoryCLI(["targets", "add", "--version", "1", "--hwid", "qemu-x86", "--tag", "main",
                                "--os", String(repeating: "ab", count: 32)])
        let resigned = try gateway.curl("/repo/timestamp.json", as: device)
        let resignedOnDisk = try String(contentsOfFile: gateway.factory + "/tuf/ci/timestamp.json", encoding: .utf8)
        #expect(resignedOnDisk != onDisk)
        #expect(resigned.body == resignedOnDisk)
        #expect(resigned.headers["x-ats-role-checksum"] == Hex.encode(Digest.sha256(Array(resignedOnDisk.utf8))))
        #expect(try gateway.curl("/repo/2.targets.json", as: device).body.contains("qemu-x86-lmp-1"))

        #expect(try gateway.curl("/repo/1.root.json", as: device).status == 200)
        #expect(try gateway.curl("/repo/1.snapshot.json", as: device).status == 200)
        #expect(try gateway.curl("/repo/1.targets.json", as: device).status == 200)
        #expect(try gateway.curl("/repo/snapshot.json", as: device).status == 200)
        #expect(try gateway.curl("/repo/2.root.json", as: device).status == 404)  // ends the root walk
        let escaped = try gateway.curl("/repo/..%2F..%2Fkeys%2Ftuf%2Froot.key", as: device)
        #expect(escaped.status == 400 || escaped.status == 404, "\(escaped.status.map(String.init) ?? "none")")
        #expect(!escaped.body.contains("PRIVATE") && !escaped.body.contains("keyval"))
        #expect(try gateway.curl("/repo/root.key", as: device).status == 404)

        let production = try gateway.curl("/repo/timestamp.json", as: try gateway.device(production: true))
        #expect(production.status == 404)
        #expect(production.body.contains("production"))

        // The headers are the device's last-seen state.
        let shown = try gateway.json(try gateway.factoryCLI(["devices", "show", device.uuid, "--json"])) as! [String: Any]
        let record = shown["device"] as! [String: Any]
        #expect(record["targetName"] as? String == "qemu-x86-lmp-1")
        #expect(record["tags"] as? [String] == ["main", "beta"])
        #expect(record["dockerApps"] as? [String] == ["shellhttpd", "nginx"])
        #expect(record["ostreeHash"] as? String == String(repeating: "ab", count: 32))
        #expect(record["isProduction"] as? Bool == false)
        #expect(record["lastSeen"] is Double)
    }

    @Test func libostreePullsAPublishedCommitThroughTheGatewayWithTheDeviceCertificate() throws {
        let gateway = try GatewayFixture()
        let rootfs = gateway.dir + "/rootfs"
        try FileManager.default.createDirectory(atPath: rootfs + "/usr/etc", withIntermediateDirectories: true)
        try "ID=otter\n".write(toFile: rootfs + "/usr/etc/os-release", atomically: true, encoding: .utf8)
        try Data((0..<100_000).map { UInt8($0 & 0xff) }).write(to: URL(fileURLWithPath: rootfs + "/usr/etc/blob"))
        let commit = try gateway.factoryCLI(["os", "publish", rootfs, "--version", "1", "--hwid", "qemu-x86"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let device = try gateway.device()

        let repo = gateway.dir + "/client-repo"
        func ostree(_ args: [String]) throws -> (out: String, err: String, status: Int32) {
            try runProcess("/usr/bin/ostree", args + ["--repo=\(repo)"])
        }
        #expect(try ostree(["init", "--mode=archive"]).status == 0)
        let add = try ostree(["remote", "add", "--no-gpg-verify", "--set=tls-client-cert-path=\(device.certificate)",
                              "--set=tls-client-key-path=\(device.key)", "--set=tls-ca-path=\(gateway.rootCA)",
                              "gateway", gateway.url + "/ostree"])
        #expect(add.status == 0, "\(add.err)")
        let pull = try ostree(["pull", "gateway", "otter/qemu-x86"])
        #expect(pull.status == 0, "ostree pull: \(pull.err)")
        #expect(try ostree(["rev-parse", "gateway:otter/qemu-x86"]).out.contains(commit))
        #expect(try ostree(["fsck"]).status == 0)

        // Without the client certificate libostree cannot pull.
        let bare = gateway.dir + "/bare-repo"
        #expect(try runProcess("/usr/bin/ostree", ["init", "--mode=archive", "--repo=\(bare)"]).status == 0)
        _ = try runProcess("/usr/bin/ostree", ["remote", "add", "--no-gpg-verify", "--set=tls-ca-path=\(gateway.rootCA)",
                                               "gateway", gateway.url + "/ostree", "--repo=\(bare)"])
        #expect(try runProcess("/usr/bin/ostree", ["pull", "gateway", "otter/qemu-x86", "--repo=\(bare)"]).status != 0)

        // Static files: ranges, and nothing outside the repo.
        let range = try gateway.curl("/ostree/config", as: device, extra: ["-r", "0-9"])
        #expect(range.status == 206)
        #expect(range.body.utf8.count == 10)
        let traversal = try gateway.curl("/ostree/../keys/tuf/root.key", as: device)
        #expect(traversal.status == 400)
        #expect(!traversal.body.contains("PRIVATE"))
        let encoded = try gateway.curl("/ostree/%2e%2e/pki/device-ca.key", as: device)
        #expect(encoded.status == 400)
        #expect(try gateway.curl("/ostree/nonexistent", as: device).status == 404)
    }

    @Test func gatewayKilledWithSIGKILLComesBackOnTheSamePort() throws {
        let gateway = try GatewayFixture()
        let device = try gateway.device()
        #expect(try gateway.curl("/repo/timestamp.json", as: device).status == 200)
        gateway.stop()
        #expect(try gateway.curl("/repo/timestamp.json", as: device).status == nil)
        try gateway.start()
        #expect(try gateway.curl("/repo/timestamp.json", as: device).status == 200)
        // The device it created before the kill is still the same device (same key accepted).
        #expect(try gateway.curl("/device", as: device).status == 200)
    }
}
