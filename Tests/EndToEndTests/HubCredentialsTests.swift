import Foundation
import Testing
import TestSupport

/// A factory whose registry wants credentials (htpasswd basic auth on a real distribution
/// registry): the device gets them from the gateway's `GET /hub-creds/` over mTLS and pulls its
/// apps with them; without them the pull is refused.
@Suite(.serialized) struct HubCredentialsTests {
    @Test func appsArePulledWithTheCredentialsTheGatewayHandsOut() async throws {
        let lab = try await DeviceLab(registryAuth: (user: "fleet", password: "s3cret-pull"))
        let os1 = try lab.publishOS("1")
        let web1 = try lab.publishApp("web", version: "1", body: "ok: web v1")
        try lab.addTarget("1", os: os1, apps: ["web": web1])
        let gateway = try GatewayLab(factory: lab.factory)
        _ = try gateway.register(sysroot: lab.sysroot, name: "puller", hardwareID: lab.hardwareID)
        let stored = lab.sysroot + "/var/lib/otter/hub-creds.json"

        // No credentials from the gateway (404): the registry refuses the pull.
        let refused = try lab.otter(["fetch"])
        #expect(refused.status != 0)
        #expect(refused.err.contains("requires credentials"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: stored))

        try FileManager.default.createDirectory(atPath: lab.factory + "/registry", withIntermediateDirectories: true)
        try #"{"ServerURL":"http://\#(lab.registry.registry)","Username":"fleet","Secret":"s3cret-pull"}"#
            .write(toFile: lab.factory + "/registry/hub-creds.json", atomically: true, encoding: .utf8)
        let fetched = try lab.otter(["fetch"])
        #expect(fetched.status == 0, "\(fetched.err)")
        let mode = try FileManager.default.attributesOfItem(atPath: stored)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: stored, encoding: .utf8).contains(lab.registry.registry))
    }
}
