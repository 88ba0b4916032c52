import Foundation
import Testing
import TestSupport
@testable import Updater

/// A registered device reporting to the real gateway over mTLS (`otter-factory serve`, a device
/// certificate from `otter register`): what arrives is what `otter-factory devices show` lists.
@Suite(.serialized) struct GatewayReportingTests {
    let temp = TempDir("otter-gw-report")

    func registeredDevice() throws -> (GatewayLab, OtterConfiguration, String) {
        let factory = temp.path + "/factory"
        let made = try runProcess(builtProduct("otter-factory"), ["init", factory])
        guard made.status == 0 else { throw FixtureError("otter-factory init: \(made.err)") }
        let gateway = try GatewayLab(factory: factory)
        let sysroot = temp.sub("sysroot")
        let uuid = try gateway.register(sysroot: sysroot, name: "reporter", hardwareID: "otter-lab")
        return (gateway, try OtterConfiguration.load(root: sysroot), uuid)
    }

    func event(_ step: String, _ result: UpdateEvent.Result, _ detail: String? = nil) -> UpdateEvent {
        UpdateEvent(time: Date(timeIntervalSince1970: 1_795_000_000), correlationID: "2.5-0f1e", target: "otter-lab-lmp-2",
                    version: "2.5", step: step, result: result, detail: detail)
    }

    @Test func queuedEventsReachTheGatewayInBatchesAndSurviveAnOutage() async throws {
        let (gateway, config, uuid) = try registeredDevice()
        #expect(config.servers.gatewayURL == gateway.url)
        let store = try StateStore.open(path: temp.path + "/state.db")
        for e in [event("fetch", .started), event("fetch", .succeeded), event("install-apps", .started), event("health", .failed, "x"),
                  event("reboot", .succeeded, "reboot needed"), event("update", .succeeded, "committed otter-lab-lmp-2")] {
            try store.enqueue(e)
        }
        var reporter = try #require(GatewayReporter(configuration: config))
        reporter.batchSize = 2

        gateway.stop()
        await #expect(throws: (any Error).self) { try await reporter.uploadEvents(from: store) }
        #expect(try store.queuedEvents().count == 6, "nothing is dropped while the gateway is down")

        try gateway.start()
        #expect(try await reporter.uploadEvents(from: store) == 5)
        #expect(try store.queuedEvents().isEmpty)
        #expect(try await reporter.uploadEvents(from: store) == 0)

        let events = try gateway.show(uuid)["events"] as? [[String: Any]] ?? []
        let types = Set(events.compactMap { $0["type"] as? String })
        #expect(types == ["EcuDownloadStarted", "EcuDownloadCompleted", "EcuInstallationStarted", "EcuInstallationApplied",
                          "EcuInstallationCompleted"])
        #expect(events.count == 5, "each event stored once")
        #expect(events.allSatisfy { $0["correlationID"] as? String == "2_5-0f1e" && $0["version"] as? String == "2.5" })
        let completed = try #require(events.first { $0["type"] as? String == "EcuInstallationCompleted" })
        #expect(completed["success"] as? Bool == true)
        #expect(completed["details"] as? String == "committed otter-lab-lmp-2")
    }

    @Test func systemInfoNetworkConfigAndAppsStatesAreStored() async throws {
        let (gateway, config, uuid) = try registeredDevice()
        let made = GatewayReporter(configuration: config, headers: { ["x-ats-target": "otter-lab-lmp-7"] })
        let reporter = try #require(made)
        try await reporter.putSystemInfo(hardwareID: "otter-lab")
        try await reporter.putNetworkInfo()
        try await reporter.putConfig(config)
        let web = AppRef(name: "web", uri: "registry.test/factory/web@sha256:" + String(repeating: "a", count: 64))
        let current = Target(name: "otter-lab-lmp-7", version: "7", osCommit: String(repeating: "b", count: 64),
                             hardwareIds: ["otter-lab"], apps: [web])
        try await reporter.postAppsStates(GatewayReporter.appsStates(current: current, running: [web], at: Date()))

        let shown = try gateway.show(uuid)
        let info = shown["systemInfo"] as? [String: String] ?? [:]
        #expect(info["hardware"]?.contains("\"product\":\"otter-lab\"") == true, "\(info)")
        #expect(info["network"]?.contains("\"hostname\"") == true)
        #expect(info["config"]?.contains("50-registration.toml") == true)
        #expect(info["config"]?.contains("gateway_url") == true)
        let apps = shown["appsStates"] as? [String: Any]
        #expect((apps?["appsJSON"] as? String)?.contains("\"state\":\"running\"") == true, "\(String(describing: apps))")
        #expect(apps?["ostree"] as? String == current.osCommit)
        // The x-ats-target header of the reports is the device's check-in.
        #expect((shown["device"] as? [String: Any])?["targetName"] as? String == "otter-lab-lmp-7")
    }

    @Test func configFilesSetByTheOperatorReachTheDeviceAndCommandsAreRefused() async throws {
        let (gateway, config, uuid) = try registeredDevice()
        func set(_ name: String, _ text: String) throws {
            let file = temp.path + "/" + name
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            _ = try gateway.factoryCLI(["devices", "config", uuid, "--factory", gateway.factory, "--set", "\(name)=\(file)"])
        }
        let sync = try #require(DeviceConfigSync(configuration: config))
        let layer = config.root + "/var/lib/otter/conf.d"
        func files() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: layer)) ?? []).filter { $0.hasSuffix(".toml") }.sorted() }

        try set("50-poll.toml", "[update]\npoll_interval = 900\n")
        #expect(try await sync.sync())
        #expect(files() == ["50-poll.toml"])
        #expect(try OtterConfiguration.load(root: config.root).update.pollInterval == .seconds(900))
        #expect(try await !sync.sync(), "nothing new: 304")

        // Changed within the same second: still seen (every change gets a later Last-Modified).
        try set("50-poll.toml", "[update]\npoll_interval = 1200\n")
        #expect(try await sync.sync())
        #expect(try OtterConfiguration.load(root: config.root).update.pollInterval == .seconds(1200))

        // A file naming a command is refused whole; the layer keeps what it had.
        try set("60-reboot.toml", "[update]\nreboot_command = [\"/bin/sh\", \"-c\", \"id\"]\n")
        let refused = await #expect(throws: UpdaterError.self) { try await sync.sync() }
        #expect(refused?.description.contains("60-reboot.toml sets update.reboot_command") == true, "\(refused.map { "\($0)" } ?? "")")
        #expect(files() == ["50-poll.toml"])

        _ = try gateway.factoryCLI(["devices", "config", uuid, "--factory", gateway.factory, "--unset", "60-reboot.toml"])
        #expect(try await !sync.sync(), "accepted again; the layer already holds exactly that")
        #expect(files() == ["50-poll.toml"])
        let shown = try gateway.factoryCLI(["devices", "config", uuid, "--factory", gateway.factory])
        #expect(shown == "# 50-poll.toml\n[update]\npoll_interval = 1200" as String)
        let bad = try runProcess(builtProduct("otter-factory"), ["devices", "config", uuid, "--factory", gateway.factory, "--set", "../x.toml=/etc/hostname"])
        #expect(bad.status == 64 && bad.err.contains("is not a config file name"), "\(bad.err)")
    }
}

/// `otter register --renew` and the daemon's renewal near expiry, against the real gateway.
@Suite(.serialized) struct CertificateRenewalTests {
    let temp = TempDir("otter-gw-renew")

    @Test func renewReplacesTheCertificateKeepingTheKeyAndTheDaemonRenewsNearExpiry() async throws {
        let factory = temp.path + "/factory"
        #expect(try runProcess(builtProduct("otter-factory"), ["init", factory]).status == 0)
        let gateway = try GatewayLab(factory: factory)
        let sysroot = temp.sub("sysroot")
        try makeSysroot(at: sysroot)
        let uuid = try gateway.register(sysroot: sysroot, name: "renewer", hardwareID: "otter-lab")
        let certs = sysroot + "/var/lib/otter/certs"
        let key = try String(contentsOfFile: certs + "/pkey.pem", encoding: .utf8)
        func serial() throws -> String {
            let out = try runProcess("/usr/bin/openssl", ["x509", "-in", certs + "/client.pem", "-noout", "-serial", "-subject"])
            return out.out
        }
        let before = try serial()

        let renewed = try runProcess(builtProduct("otter"), ["register", "--renew", "--sysroot", sysroot])
        #expect(renewed.status == 0, "\(renewed.err)")
        let after = try serial()
        #expect(after != before)
        #expect(after.contains(uuid), "same subject: \(after)")
        #expect(try String(contentsOfFile: certs + "/pkey.pem", encoding: .utf8) == key, "the key is kept")
        // The new certificate chains to the factory root and still opens the gateway.
        let verified = try runProcess("/usr/bin/openssl", ["verify", "-CAfile", certs + "/root.crt", "-untrusted", certs + "/client.pem", certs + "/client.pem"])
        #expect(verified.status == 0, "\(verified.out) \(verified.err)")
        let whoami = try runProcess(builtProduct("otter"), ["whoami", "--json", "--sysroot", sysroot])
        #expect(whoami.out.contains("\"gatewayReachable\" : true"), "\(whoami.out) \(whoami.err)")

        // A CSR for another key is refused (the fleet pins the device's key).
        let otherKey = temp.path + "/other.key"
        _ = try runProcess("/usr/bin/openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", otherKey])
        let csr = try runProcess("/usr/bin/openssl", ["req", "-new", "-key", otherKey, "-subj", "/CN=\(uuid)/OU=otter"])
        let body = try JSONSerialization.data(withJSONObject: ["csr": csr.out])
        try body.write(to: URL(fileURLWithPath: temp.path + "/csr.json"))
        let refused = try runProcess("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certs + "/root.crt",
                                                       "--cert", certs + "/client.pem", "--key", certs + "/pkey.pem",
                                                       "-H", "Content-Type: application/json", "--data-binary", "@" + temp.path + "/csr.json",
                                                       gateway.url + "/certificate/renew"])
        #expect(refused.out == "400", "\(refused.out) \(refused.err)")

        // The daemon renews when the certificate expires within cert_renew_days.
        try write("[servers]\ncert_renew_days = 100000\n", to: sysroot + "/etc/otter/conf.d/60-renew.toml")
        let daemon = try runProcess(builtProduct("otter"), ["daemon", "--cycles", "1", "--interval", "0.1", "--sysroot", sysroot])
        #expect(daemon.err.contains("device certificate renewed"), "\(daemon.err)")
        #expect(try serial() != after)
    }
}

@Suite struct GatewayEventMappingTests {
    func queued(_ step: String, _ result: UpdateEvent.Result, _ detail: String? = nil) -> QueuedEvent {
        QueuedEvent(id: 7, event: UpdateEvent(time: Date(timeIntervalSince1970: 0), correlationID: "1-a", target: "t", version: "1",
                                              step: step, result: result, detail: detail))
    }

    @Test func stepsMapToTheLmPEventTypes() {
        #expect(GatewayReporter.lmpEvent(queued("fetch", .started))?.eventType.id == "EcuDownloadStarted")
        #expect(GatewayReporter.lmpEvent(queued("fetch", .failed))?.event.success == false)
        #expect(GatewayReporter.lmpEvent(queued("install-apps", .started))?.eventType.id == "EcuInstallationStarted")
        #expect(GatewayReporter.lmpEvent(queued("reboot", .succeeded))?.eventType.id == "EcuInstallationApplied")
        #expect(GatewayReporter.lmpEvent(queued("update", .failed, "rolled back"))?.event.success == false)
        #expect(GatewayReporter.lmpEvent(queued("update", .succeeded, "paused before install-apps")) == nil)
        #expect(GatewayReporter.lmpEvent(queued("health", .failed)) == nil)
        #expect(GatewayReporter.lmpEvent(queued("fetch", .started))?.deviceTime == "1970-01-01T00:00:00Z")
    }

}
