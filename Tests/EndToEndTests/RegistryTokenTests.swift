import Foundation
import Testing
import TestSupport

/// A real distribution registry in token-auth mode whose only trusted signer is the factory
/// (`otter-factory registry token-auth`): the factory pushes with tokens it signs itself, the
/// device pulls with tokens from the gateway's `/hub-token`, asked with its client certificate.
/// curl is the independent client for what must be refused.
@Suite(.serialized) struct RegistryTokenTests {
    @Test func devicesPullWithGatewayTokensThatNeverGrantPush() async throws {
        let lab = try await DeviceLab()
        let gateway = try GatewayLab(factory: lab.factory)
        let uuid = try gateway.register(sysroot: lab.sysroot, name: "token-puller", hardwareID: lab.hardwareID)

        let section = try lab.factoryCLI(["registry", "token-auth", "--factory", lab.factory, "--realm", gateway.url + "/hub-token"])
        #expect(section.contains("rootcertbundle: \(lab.factory)/registry/token.crt"))
        lab.registry.stop()
        try lab.registry.writeConfig(auth: section)
        try await lab.registry.start()
        lab.factorySignsRegistryTokens = true

        // Anonymous clients are sent to the gateway's realm.
        let anonymous = try curl(["-sS", "-o", "/dev/null", "-D", "-", "http://\(lab.registry.registry)/v2/images/web/tags/list"])
        #expect(anonymous.out.contains("401"), "\(anonymous.out)")
        #expect(anonymous.out.contains("realm=\"\(gateway.url)/hub-token\""), "\(anonymous.out)")

        let os1 = try lab.publishOS("1")
        let web1 = try lab.publishApp("web", version: "1", body: "ok: web v1")
        try lab.addTarget("1", os: os1, apps: ["web": web1])
        let fetched = try lab.otter(["fetch"])
        #expect(fetched.status == 0, "\(fetched.err)")

        // What the gateway hands the device: pull only, even when it asks for push.
        let certs = lab.sysroot + "/var/lib/otter/certs"
        let key = try FileManager.default.contentsOfDirectory(atPath: certs).first { $0.hasSuffix(".key") || $0 == "pkey.pem" }
        let asked = try curl(["-sS", "--cacert", gateway.rootCA, "--cert", certs + "/client.pem", "--key", certs + "/" + (key ?? "pkey.pem"),
                              gateway.url + "/hub-token?service=otter-registry&scope=repository:images/web:pull,push,delete"])
        let answer = try JSONSerialization.jsonObject(with: Data(asked.out.utf8)) as? [String: Any]
        let token = try #require(answer?["token"] as? String, "\(asked.out) \(asked.err)")
        let claims = try jwtClaims(token)
        #expect(claims["sub"] as? String == uuid)
        #expect(claims["aud"] as? String == "otter-registry")
        let access = claims["access"] as? [[String: Any]]
        #expect(access?.count == 1)
        #expect(access?.first?["name"] as? String == "images/web")
        #expect(access?.first?["actions"] as? [String] == ["pull"])

        // The registry takes it for a pull and refuses it for a push.
        let pull = try curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)",
                             "http://\(lab.registry.registry)/v2/images/web/tags/list"])
        #expect(pull.out == "200")
        let push = try curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Authorization: Bearer \(token)",
                             "http://\(lab.registry.registry)/v2/images/web/blobs/uploads/"])
        #expect(push.out == "401")

        // A token signed by another factory's key is refused.
        let other = lab.temp.path + "/other-factory"
        try lab.factoryCLI(["init", other])
        _ = try lab.factoryCLI(["registry", "token-auth", "--factory", other, "--realm", gateway.url + "/hub-token"])
        let forged = try lab.factoryCLI(["registry", "token", "--factory", other, "--scope", "repository:images/web:pull"])
        let refused = try curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(forged)",
                                "http://\(lab.registry.registry)/v2/images/web/tags/list"])
        #expect(refused.out == "401")
    }

    func curl(_ args: [String]) throws -> (out: String, err: String) {
        let result = try runProcess("/usr/bin/curl", args)
        return (result.out, result.err)
    }

    func jwtClaims(_ token: String) throws -> [String: Any] {
        let parts = token.split(separator: ".")
        try #require(parts.count == 3)
        var text = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        let data = try #require(Data(base64Encoded: text))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
