import Bootloader
import Foundation
import Testing
import TestSupport
import Updater

/// Issue #11 end to end with real devices: one factory and its gateway (`otter-factory serve`,
/// mTLS), and several `otter` devices on throw-away sysroots registered with `otter register`,
/// production ones with `--production` and the tag's production root in their image. Targets
/// are OS-only (no apps; the devices share one podman service as their container engine).
@Suite(.serialized) struct WaveRolloutTests {
    /// Outside `Mon-Fri 02:00-04:00` (a Tuesday morning, UTC).
    static let outsideWindow = ["OTTER_TEST_NOW": "2026-12-01T10:00:00Z", "TZ": "UTC"]

    @Test func productionDevicesRefuseCIMetadataThemselvesWhenItIsServedToThem() async throws {
        let lab = try FleetLab()
        try lab.publish("1")
        let production = try lab.device("prod", production: true)
        let test = try lab.device("test", production: false)
        // A production device whose image carries the test (CI) root by mistake.
        let wrongImage = try lab.device("wrong-image", production: true, root: .ci)

        // Through the gateway each gets its own repository: the CI Target for the test device,
        // the (still empty) production targets for the production device; under a CI root the
        // production device refuses production metadata too.
        #expect(try test.checkedVersions() == ["1"])
        #expect(try production.checkedVersions() == [])
        let viaGateway = try wrongImage.otter(["check"])
        #expect(viaGateway.status != 0 && viaGateway.err.contains("this production device refuses the repository"), "\(viaGateway.err)")

        // The CI repository served to devices by mistake (a plain mirror of tuf/ci).
        let mirror = try FileServer(directory: lab.factory)
        defer { mirror.stop() }
        for device in [production, test, wrongImage] {
            try write("[servers]\ntuf_url = \"\(mirror.url)/tuf/ci\"\n", to: device.sysroot + "/etc/otter/conf.d/60-mistake.toml")
        }
        #expect(try test.checkedVersions() == ["1"], "the mirror serves valid CI metadata")

        // The production root requires the offline key's signature on targets: CI targets fail TUF.
        let refused = try production.otter(["check"])
        #expect(refused.status != 0)
        #expect(refused.err.contains("targets") && refused.err.contains("signature"), "\(refused.err)")
        let update = try production.otter(["update"])
        #expect(update.status != 0, "\(update.out)")
        #expect(try production.deployments().isEmpty, "nothing of the CI Target is installed")
        #expect(try production.currentVersion() == nil)

        // With the CI root the signatures hold, and the device's own production check refuses.
        let marker = try wrongImage.otter(["update"])
        #expect(marker.status != 0)
        #expect(marker.err.contains("this production device refuses the repository"), "\(marker.err)")
        #expect(try wrongImage.deployments().isEmpty)
    }

    @Test func wavesReachExactlyTheRolledOutGroupCancelKeepsVersionsAndCompleteReachesTheTag() async throws {
        let lab = try FleetLab()
        try lab.publish("1")
        try lab.publish("2")
        let test = try lab.device("test", production: false)
        let a = try lab.device("prod-a", production: true)
        let b = try lab.device("prod-b", production: true)
        try lab.factoryCLI(["groups", "create", "ga"])
        try lab.factoryCLI(["groups", "create", "gb"])
        try lab.factoryCLI(["devices", "set-group", a.uuid, "ga"])
        try lab.factoryCLI(["devices", "set-group", b.uuid, "gb"])

        // The test device follows CI; production devices see nothing until a wave reaches them.
        try await test.update(to: "2")
        #expect(try a.checkedVersions() == [] && b.checkedVersions() == [])

        try lab.factoryCLI(["waves", "init", "w1", "2", "main", "-k", lab.offlineKey])
        #expect(try a.checkedVersions() == [], "a wave is invisible before its rollout")
        let rolled = try lab.factoryCLI(["waves", "rollout", "w1", "--group", "ga", "--print-uuids"])
        #expect(rolled == a.uuid)

        #expect(try a.checkedVersions() == ["2"], "the wave holds only Target 2")
        #expect(try b.checkedVersions() == [])
        try await a.update(to: "2")
        let nothing = try b.otter(["update"])
        #expect(nothing.status != 0 && nothing.err.contains("no Target for hardware id otter-lab"), "\(nothing.err)")
        #expect(try b.currentVersion() == nil && b.deployments().isEmpty)
        #expect(try test.checkedVersions() == ["2", "1"], "the test device keeps following CI")

        _ = try a.otter(["check"])  // reports the Target it now runs
        let status = try lab.json(try lab.factoryCLI(["waves", "status", "w1", "--json"]))
        let total = try #require(status["total"] as? [String: Any])
        #expect(total["rolledOut"] as? Int == 1 && total["updated"] as? Int == 1 && total["notYetSeen"] as? Int == 0, "\(total)")

        // Cancel: A keeps running 2, B stays where it was; a wave finishes once.
        try lab.factoryCLI(["waves", "cancel", "w1"])
        #expect(try a.checkedVersions() == [])
        let kept = try a.otter(["update"])
        #expect(kept.status == 0, "nothing to do: \(kept.out) \(kept.err)")
        #expect(try a.currentVersion() == "2" && a.deployments().count == 1, "A keeps running 2")
        #expect(try b.checkedVersions() == [] && b.currentVersion() == nil)
        let again = try runProcess(builtProduct("otter-factory"), ["waves", "cancel", "w1", "--factory", lab.factory])
        #expect(again.status != 0 && again.err.contains("already cancelled"), "\(again.err)")

        // A second wave, rolled out to B's group, then completed: every production device of main gets it.
        try lab.publish("3")
        #expect(try test.checkedVersions() == ["3", "2", "1"])
        #expect(try a.checkedVersions() == [] && b.checkedVersions() == [], "CI Target 3 is not a production Target")
        try lab.factoryCLI(["waves", "init", "w2", "3", "main", "-k", lab.offlineKey])
        #expect(try lab.factoryCLI(["waves", "rollout", "w2", "--group", "gb", "--print-uuids"]) == b.uuid)
        #expect(try b.checkedVersions() == ["3"] && a.checkedVersions() == [])
        try lab.factoryCLI(["waves", "complete", "w2"])
        #expect(try a.checkedVersions() == ["3"])
        try await a.update(to: "3")
        try await b.update(to: "3")
        try await test.update(to: "3")
        let twice = try runProcess(builtProduct("otter-factory"), ["waves", "complete", "w2", "--factory", lab.factory])
        #expect(twice.status != 0 && twice.err.contains("already complete"), "\(twice.err)")
        let list = try lab.factoryCLI(["waves", "list"])
        #expect(list.contains("w1  version 2  tag main  cancelled") && list.contains("w2  version 3  tag main  complete"), "\(list)")
    }

    @Test func aRolloutWithNowInstallsOutsideTheWindowWhileAnotherRolloutOfTheWaveWaits() async throws {
        let lab = try FleetLab()
        try lab.publish("1")
        let waits = try lab.device("waits", production: true)
        let now = try lab.device("now", production: true)
        try lab.factoryCLI(["groups", "create", "night"])
        try lab.factoryCLI(["groups", "set-windows", "night", "Mon-Fri 02:00-04:00"])
        try lab.factoryCLI(["devices", "set-group", waits.uuid, now.uuid, "night"])

        try lab.factoryCLI(["waves", "init", "w1", "1", "main", "-k", lab.offlineKey])
        try lab.factoryCLI(["waves", "rollout", "w1", "--uuids", waits.uuid])
        let marked = try lab.factoryCLI(["waves", "rollout", "w1", "--uuids", now.uuid, "--now"])
        #expect(marked.contains("ignoring update windows"), "\(marked)")
        let status = try lab.json(try lab.factoryCLI(["waves", "status", "w1", "--json"]))
        #expect(status["rolloutsIgnoringWindows"] as? [Int] == [2], "\(status)")
        #expect(try lab.factoryCLI(["waves", "status", "w1"]).contains("rollout 2 (ignores update windows)"))

        // Outside the window: the device of rollout 1 only fetches; the one of rollout 2 installs.
        for device in [waits, now] {
            let run = try device.otter(["daemon", "--cycles", "1", "--interval", "0.1"], env: Self.outsideWindow)
            #expect(run.status == 0, "\(device.name): \(run.err)")
        }
        let layer = "/var/lib/otter/conf.d/otter-update-windows.toml"
        #expect(FileManager.default.fileExists(atPath: waits.sysroot + layer))
        #expect(!FileManager.default.fileExists(atPath: now.sysroot + layer), "rollout 2's device gets no windows")
        #expect(try waits.deployments().isEmpty, "the window is closed for rollout 1")
        #expect(try now.deployments().count == 1, "rollout 2 installed outside the window")

        // Once the wave is complete its devices follow their group's windows again.
        try lab.factoryCLI(["waves", "complete", "w1"])
        let after = try now.otter(["daemon", "--cycles", "1", "--interval", "0.1"], env: Self.outsideWindow)
        #expect(after.status == 0, "\(after.err)")
        #expect(FileManager.default.fileExists(atPath: now.sysroot + layer), "\(after.err)")
    }
}

/// A factory, its gateway, an offline key and a container engine; devices made on demand.
final class FleetLab: @unchecked Sendable {
    let temp = TempDir("otter-fleet")
    let hardwareID = "otter-lab"
    let gateway: GatewayLab
    let podman: PodmanFixture
    var factory: String { temp.path + "/factory" }
    var offlineKey: String { temp.path + "/offline.key" }

    init() throws {
        let made = try runProcess(builtProduct("otter-factory"), ["init", temp.path + "/factory"])
        guard made.status == 0 else { throw FixtureError("otter-factory init: \(made.err)") }
        gateway = try GatewayLab(factory: temp.path + "/factory")
        podman = try PodmanFixture()
        try gateway.factoryCLI(["keys", "offline", "--out", offlineKey])
        try factoryCLI(["production", "init", "main", "-k", offlineKey])
    }

    /// `otter-factory ARGS --factory <factory>`.
    @discardableResult
    func factoryCLI(_ args: [String]) throws -> String {
        try gateway.factoryCLI(args + ["--factory", factory])
    }

    func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// OS `version` committed by the factory and CI Target `version` (tag main) holding only it.
    func publish(_ version: String) throws {
        let rootfs = temp.sub("rootfs-\(version)")
        try makeRootfs(at: rootfs, version: version, payloadFiles: 2, payloadSize: 2048, seed: Int(version) ?? 0)
        let commit = try factoryCLI(["os", "publish", rootfs, "--version", version, "--hwid", hardwareID])
        try factoryCLI(["targets", "add", "--version", version, "--hwid", hardwareID, "--tag", "main", "--os", commit])
    }

    enum Root { case ci, production }

    /// A sysroot with the device config and trust an image would carry (the TUF root of
    /// `root`, by default the one matching `production`), registered with the gateway.
    func device(_ name: String, production: Bool, root: Root? = nil) throws -> FleetDevice {
        let sysroot = temp.sub("device-\(name)")
        try makeSysroot(at: sysroot)
        try write("""
        [device]
        hardware_id = "\(hardwareID)"
        tag = "main"

        [update]
        auto_reboot = false
        os = "otter"

        [health]
        timeout = 30
        greenboot_dirs = []

        [bootloader]
        backend = "file"

        [apps]
        engine_socket = "\(podman.socketPath)"
        compose_command = ["/usr/bin/docker-compose"]
        """, to: sysroot + "/etc/otter/conf.d/40-image.toml")
        let rootFile = sysroot + "/usr/lib/otter/tuf/root.json"
        try FileManager.default.createDirectory(atPath: sysroot + "/usr/lib/otter/tuf", withIntermediateDirectories: true)
        if root ?? (production ? .production : .ci) == .production {
            // The image builder takes the tag's production root from the factory database.
            let sql = "SELECT writefile('\(rootFile)', body) FROM tuf_documents WHERE repo = 'prod/main' AND name = '1.root.json';"
            let exported = try runProcess("/usr/bin/sqlite3", [factory + "/factory.db", sql])
            guard exported.status == 0, FileManager.default.fileExists(atPath: rootFile) else {
                throw FixtureError("no production root of main in the factory database: \(exported.err)")
            }
        } else {
            try FileManager.default.copyItem(atPath: factory + "/tuf/ci/1.root.json", toPath: rootFile)
        }
        try FileManager.default.createDirectory(atPath: sysroot + "/etc/otter/trusted.ed25519.d", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: factory + "/keys/ostree/ed25519.pub", toPath: sysroot + "/etc/otter/trusted.ed25519.d/factory.pub")
        let uuid = try gateway.register(sysroot: sysroot, name: name, hardwareID: hardwareID, production: production)
        return FleetDevice(name: name, sysroot: sysroot, uuid: uuid)
    }
}

/// One registered `otter` device of a `FleetLab` (boots simulated on its sysroot).
struct FleetDevice {
    let name: String
    let sysroot: String
    let uuid: String

    func otter(_ args: [String], env: [String: String] = [:]) throws -> DeviceLab.Run {
        let result = try runProcess(builtProduct("otter"), args + ["--sysroot", sysroot],
                                    env: ["OTTER_SIMULATED_BOOT_FILE": sysroot + "/run/otter-test-booted"].merging(env) { $1 })
        return DeviceLab.Run(out: result.out, err: result.err, status: result.status)
    }

    /// The versions `otter check` lists (it refreshes the TUF metadata), newest first.
    func checkedVersions() throws -> [String] {
        let run = try otter(["check", "--json"])
        guard run.status == 0 else { throw FixtureError("\(name): otter check: \(run.err)") }
        return (try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [[String: Any]] ?? []).compactMap { $0["version"] as? String }
    }

    func currentVersion() throws -> String? {
        let run = try otter(["status", "--json"])
        guard run.status == 0 else { throw FixtureError("\(name): otter status: \(run.err)") }
        let status = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
        return (status?["current"] as? [String: Any])?["version"] as? String
    }

    func deployments() throws -> [String] {
        try sh(["ostree", "admin", "status", "--sysroot=\(sysroot)"]).split(separator: "\n").filter { $0.contains("otter ") }.map(String.init)
    }

    /// `otter update` stages the new OS, the simulated boot runs it, `otter health` commits it.
    func update(to version: String) async throws {
        let staged = try otter(["update"])
        guard staged.status == 100 else { throw FixtureError("\(name): otter update to \(version) exited \(staged.status): \(staged.err)") }
        let configuration = try OtterConfiguration.load(root: sysroot)
        guard let counter = try configuration.bootloader.bootCounter() else { throw FixtureError("no boot counter configured") }
        try await SimulatedBoot(file: sysroot + "/run/otter-test-booted").reboot(sysroot: sysroot, flags: BootCounterFlags(counter))
        let health = try otter(["health"])
        guard health.status == 0, try currentVersion() == version else {
            throw FixtureError("\(name): after the boot into \(version): \(health.out) \(health.err)")
        }
    }
}
