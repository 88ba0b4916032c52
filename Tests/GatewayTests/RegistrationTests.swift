import Foundation
import OtterCrypto
import Testing
import TestSupport

/// Registration over TLS without a client certificate, with CSRs made by the openssl CLI and by
/// `otter register`; the issued certificates are checked by `openssl verify` and by mTLS.
@Suite(.serialized) struct RegistrationTests {
    func token(_ gateway: GatewayFixture, _ extra: [String] = []) throws -> String {
        try gateway.factoryCLI(["tokens", "create"] + extra).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A key and CSR made by openssl: `/OU=<ou>/CN=<uuid>`.
    func opensslCSR(_ gateway: GatewayFixture, uuid: String, ou: String = GatewayFixture.factoryName,
                    production: Bool = false) throws -> (csr: String, key: String) {
        let base = gateway.dir + "/csr-\(uuid)"
        var subject = "/OU=\(ou)/CN=\(uuid)"
        if production { subject = "/businessCategory=production" + subject }
        let made = try runProcess("/usr/bin/openssl", [
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", base + ".key",
            "-out", base + ".csr", "-subj", subject, "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=clientAuth"])
        #expect(made.status == 0, "\(made.err)")
        return (try String(contentsOfFile: base + ".csr", encoding: .utf8), base + ".key")
    }

    func register(_ gateway: GatewayFixture, token: String?, uuid: String, csr: String, production: Bool = false,
                  name: String = "dev") throws -> GatewayFixture.CurlResult {
        let body: [String: Any] = ["name": name, "uuid": uuid, "csr": csr, "hardware-id": "qemu-x86", "production": production,
                                   "overrides": ["pacman": ["tags": "\"main\""]]]
        let data = try JSONSerialization.data(withJSONObject: body)
        var headers = ["Content-Type": "application/json"]
        if let token { headers["OSF-TOKEN"] = token }
        return try gateway.curl("/devices", as: nil, method: "POST", body: String(decoding: data, as: UTF8.self), headers: headers,
                                base: gateway.registrationURL)
    }

    @Test func aGoodTokenAndCSRGetACertificateThatVerifiesAndWorksForMutualTLS() throws {
        let gateway = try GatewayFixture()
        let token = try token(gateway)
        let uuid = UUID().uuidString.lowercased()
        let (csr, key) = try opensslCSR(gateway, uuid: uuid)

        let factory = try gateway.json(try gateway.curl("/factory", as: nil, base: gateway.registrationURL).body) as! [String: String]
        #expect(factory["name"] == GatewayFixture.factoryName)
        #expect(factory["gateway"] == gateway.url)

        let answer = try register(gateway, token: token, uuid: uuid, csr: csr)
        #expect(answer.status == 201, "\(answer.body)")
        let files = try gateway.json(answer.body) as! [String: String]
        #expect(Set(files.keys).isSuperset(of: ["root.crt", "client.pem", "otter.toml"]))
        #expect(files["root.crt"] == (try String(contentsOfFile: gateway.rootCA, encoding: .utf8)))
        #expect(files["otter.toml"]?.contains("tuf_url = \"\(gateway.url)/repo\"") == true)
        let certificate = gateway.dir + "/issued.pem"
        try files["client.pem"]!.write(toFile: certificate, atomically: true, encoding: .utf8)

        let verified = try runProcess("/usr/bin/openssl", ["verify", "-CAfile", gateway.rootCA, "-untrusted", gateway.deviceCA,
                                                           "-purpose", "sslclient", certificate])
        #expect(verified.status == 0 && verified.out.contains("OK"), "\(verified.out) \(verified.err)")
        let text = try runProcess("/usr/bin/openssl", ["x509", "-in", certificate, "-noout", "-subject", "-ext", "keyUsage,extendedKeyUsage"]).out
        #expect(text.contains("CN = \(uuid)") || text.contains("CN=\(uuid)"), "\(text)")
        #expect(text.contains("OU = acme") || text.contains("OU=acme"), "\(text)")
        #expect(text.contains("TLS Web Client Authentication"), "\(text)")
        #expect(text.contains("Digital Signature"), "\(text)")

        let device = GatewayFixture.DeviceFiles(uuid: uuid, certificate: certificate, key: key)
        let document = try gateway.curl("/device", as: device)
        #expect(document.status == 200, "\(document.error)")
        let fields = try gateway.json(document.body) as! [String: Any]
        #expect(fields["uuid"] as? String == uuid)
        #expect(fields["name"] as? String == "dev")
        #expect(fields["hardware_id"] as? String == "qemu-x86")

        // The same uuid cannot be registered twice.
        let (csr2, _) = try opensslCSR(gateway, uuid: uuid)
        #expect(try register(gateway, token: token, uuid: uuid, csr: csr2).status == 409)
    }

    @Test func badTokensForeignOUsForgedCSRsAndUnallowedProductionAreRefused() throws {
        let gateway = try GatewayFixture()
        let token = try token(gateway)
        func fresh(ou: String = GatewayFixture.factoryName, production: Bool = false) throws -> (String, String) {
            let uuid = UUID().uuidString.lowercased()
            return (uuid, try opensslCSR(gateway, uuid: uuid, ou: ou, production: production).csr)
        }
        var (uuid, csr) = try fresh()
        #expect(try register(gateway, token: nil, uuid: uuid, csr: csr).status == 401)
        #expect(try register(gateway, token: "not-a-token", uuid: uuid, csr: csr).status == 401)

        (uuid, csr) = try fresh(ou: "someone-else")
        let wrongOU = try register(gateway, token: token, uuid: uuid, csr: csr)
        #expect(wrongOU.status == 400)
        #expect(wrongOU.body.contains("OU"))

        (uuid, csr) = try fresh()
        #expect(try register(gateway, token: token, uuid: UUID().uuidString.lowercased(), csr: csr).status == 400)  // CN ≠ uuid

        // A CSR whose signature does not match its key: flip a byte of the signature.
        (uuid, csr) = try fresh()
        let body = csr.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        var der = [UInt8](Data(base64Encoded: body)!)
        der[der.count - 3] ^= 0x01
        let forged = "-----BEGIN CERTIFICATE REQUEST-----\n" + Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END CERTIFICATE REQUEST-----\n"
        let forgedAnswer = try register(gateway, token: token, uuid: uuid, csr: forged)
        #expect(forgedAnswer.status == 400, "\(forgedAnswer.body)")

        (uuid, csr) = try fresh(production: true)
        let production = try register(gateway, token: token, uuid: uuid, csr: csr, production: true)
        #expect(production.status == 403)
        let productionToken = try self.token(gateway, ["--production"])
        let allowed = try register(gateway, token: productionToken, uuid: uuid, csr: csr, production: true)
        #expect(allowed.status == 201, "\(allowed.body)")
        let issued = try Certificate(pem: (try gateway.json(allowed.body) as! [String: String])["client.pem"]!)
        #expect(issued.subject["businessCategory"] == "production")

        // A token that has not expired yet registers (expiry itself: FactoryDatabaseTests).
        let dayToken = try self.token(gateway, ["--expires-days", "1"])
        (uuid, csr) = try fresh()
        #expect(try register(gateway, token: dayToken, uuid: uuid, csr: csr).status == 201)

        // Nothing refused was recorded.
        let devices = try gateway.json(try gateway.factoryCLI(["devices", "list", "--json"])) as! [[String: Any]]
        #expect(devices.count == 2)
    }

    @Test func otterRegisterThenWhoamiEndToEnd() throws {
        let gateway = try GatewayFixture()
        let token = try token(gateway)
        let certs = gateway.dir + "/device/var/lib/otter/certs"
        let conf = gateway.dir + "/device/etc/otter/conf.d"
        let otter = GatewayFixture.binary("otter")
        let args = ["register", "--factory", gateway.registrationURL, "--name", "bench-1", "--tag", "main", "--hwid", "qemu-x86",
                    "--token", token, "--ca", gateway.rootCA, "--certs-dir", certs, "--conf-dir", conf]
        let registered = try runProcess(otter, args)
        #expect(registered.status == 0, "\(registered.err)")
        let uuid = registered.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(UUID(uuidString: uuid) != nil)

        let attributes = try FileManager.default.attributesOfItem(atPath: certs + "/pkey.pem")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let fragment = try String(contentsOfFile: conf + "/50-registration.toml", encoding: .utf8)
        #expect(fragment.contains("tuf_url = \"\(gateway.url)/repo\""))
        #expect(fragment.contains("tag = \"main\""))
        #expect(fragment.contains("tls_client_key = \"\(certs)/pkey.pem\""))
        let verified = try runProcess("/usr/bin/openssl", ["verify", "-CAfile", certs + "/root.crt", "-untrusted", gateway.deviceCA,
                                                           certs + "/client.pem"])
        #expect(verified.status == 0, "\(verified.out) \(verified.err)")

        let whoami = try runProcess(otter, ["whoami", "--certs-dir", certs, "--conf-dir", conf, "--json"])
        #expect(whoami.status == 0, "\(whoami.err)")
        let identity = try gateway.json(whoami.out) as! [String: Any]
        #expect(identity["uuid"] as? String == uuid)
        #expect(identity["name"] as? String == "bench-1")
        #expect(identity["tag"] as? String == "main")
        #expect(identity["hardwareID"] as? String == "qemu-x86")
        #expect(identity["production"] as? Bool == false)
        #expect(identity["gateway"] as? String == gateway.url)
        #expect(identity["gatewayReachable"] as? Bool == true)
        #expect((identity["certificateExpires"] as? String)?.hasPrefix("20") == true)
        let text = try runProcess(otter, ["whoami", "--certs-dir", certs, "--conf-dir", conf]).out
        #expect(text.contains("uuid:        \(uuid)"))

        // The factory saw the device.
        let shown = try gateway.json(try gateway.factoryCLI(["devices", "show", uuid, "--json"])) as! [String: Any]
        #expect((shown["device"] as! [String: Any])["name"] as? String == "bench-1")

        // A second registration is refused without --force and leaves the first one in place.
        let again = try runProcess(otter, args)
        #expect(again.status == 1)
        #expect(again.err.contains("--force"))
        let forced = try runProcess(otter, args + ["--force"])
        #expect(forced.status == 0, "\(forced.err)")
        #expect(forced.out.trimmingCharacters(in: .whitespacesAndNewlines) != uuid)

        // TOFU with a wrong pinned fingerprint writes nothing.
        let other = gateway.dir + "/other-certs"
        let pinned = try runProcess(otter, ["register", "--factory", gateway.registrationURL, "--name", "x", "--token", token,
                                            "--ca-fingerprint", String(repeating: "00", count: 32), "--certs-dir", other,
                                            "--conf-dir", gateway.dir + "/other-conf"])
        #expect(pinned.status == 1)
        #expect(pinned.err.contains("fingerprint"))
        #expect(!FileManager.default.fileExists(atPath: other + "/client.pem"))
    }
}
