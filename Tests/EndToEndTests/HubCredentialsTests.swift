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

/// The gateway dies (SIGKILL) while a registered device pulls its OS through it over mTLS and
/// comes back on the same port: the interrupted update fails with the reason and changes
/// nothing, the device's next attempt finishes with a whole deployment, and fsck is clean.
@Suite(.serialized) struct GatewayOutageTests {
    @Test func aGatewayKilledMidPullComesBackAndTheDeviceFinishes() async throws {
        let lab = try await DeviceLab()
        let os1 = try lab.publishOS("1", payloadFiles: 1500, payloadSize: 32 << 10)
        try lab.addTarget("1", os: os1, apps: [:])
        // No app in this Target: the lab's required check (the app answers) does not apply.
        try FileManager.default.removeItem(atPath: lab.sysroot + "/etc/otter/health/required.d/10-app-answers")
        let gateway = try GatewayLab(factory: lab.factory)
        _ = try gateway.register(sysroot: lab.sysroot, name: "outage", hardwareID: lab.hardwareID)
        // libostree stages pulled objects under repo/tmp/staging-* and moves them into objects/
        // when the transaction commits: the staged count shows a pull under way.
        let staging = lab.sysroot + "/ostree/repo/tmp"
        func stagedCount() -> Int { (FileManager.default.enumerator(atPath: staging)?.allObjects.count) ?? 0 }

        let update = Process()
        update.executableURL = URL(fileURLWithPath: builtProduct("otter"))
        update.arguments = ["update", "--sysroot", lab.sysroot]
        update.environment = ProcessInfo.processInfo.environment.merging(["OTTER_SIMULATED_BOOT_FILE": lab.bootFile]) { $1 }
        let output = Pipe()
        update.standardOutput = FileHandle.nullDevice
        update.standardError = output
        try update.run()
        // Kill the gateway once the pull is under way (some objects are in), then bring it back.
        let deadline = Date().addingTimeInterval(90)
        while stagedCount() < 40 && update.isRunning && Date() < deadline { usleep(5_000) }
        let pulledWhenKilled = stagedCount()
        gateway.stop()
        let stderr = output.fileHandleForReading.readDataToEndOfFile()
        update.waitUntilExit()
        try gateway.start()
        #expect(pulledWhenKilled >= 40, "the pull was under way when the gateway died")
        #expect(update.terminationStatus != 100, "the gateway died before the pull finished: \(pulledWhenKilled) objects staged")
        let first = String(decoding: stderr, as: UTF8.self)
        print("gateway outage: killed after \(pulledWhenKilled) objects; the interrupted update exited \(update.terminationStatus): \(first.split(separator: "\n").last ?? "")")
        // The attempt that lost its gateway failed with the reason and left nothing deployed.
        #expect(update.terminationStatus == 1, "\(first)")
        #expect(try lab.deployments().isEmpty)
        let retry = try lab.otter(["update"])
        #expect(retry.status == 100, "\(retry.err)")
        #expect(try lab.deployments().count == 1)
        #expect(try runProcess("/usr/bin/ostree", ["fsck", "--repo=\(lab.sysroot)/ostree/repo"]).status == 0)
        try await lab.reboot()
        let health = try lab.otter(["health"])
        #expect(health.status == 0, "\(health.err)")
        #expect(try lab.currentVersion() == "1")
    }
}
