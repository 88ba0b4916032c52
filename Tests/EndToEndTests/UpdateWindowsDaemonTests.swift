import Foundation
import Testing
import TestSupport

/// Issue #11's device side, end to end: a registered device whose gateway config
/// (`GET /config`, fioconfig JSON) sets update windows; `otter daemon` with a fake clock
/// (`OTTER_TEST_NOW`, TZ=UTC) fetches outside the window and installs only when it opens; an
/// unplanned reboot outside the window applies nothing; `otter update` at the console ignores
/// windows; every step reaches `otter-factory devices show` as LmP events.
@Suite(.serialized) struct UpdateWindowsDaemonTests {
    static let tuesdayMorning = "2026-12-01T10:00:00Z"   // outside Mon-Fri 02:00-04:00
    static let wednesdayNight = "2026-12-02T02:30:00Z"   // inside
    static let wednesdayLater = "2026-12-02T02:40:00Z"   // inside

    func daemon(_ lab: DeviceLab, at now: String, cycles: Int = 1) throws -> DeviceLab.Run {
        try lab.otter(["daemon", "--cycles", "\(cycles)", "--interval", "0.1"], env: ["OTTER_TEST_NOW": now, "TZ": "UTC"])
    }

    func status(_ lab: DeviceLab, at now: String) throws -> [String: Any] {
        try lab.status(env: ["OTTER_TEST_NOW": now, "TZ": "UTC"])
    }

    @Test func theDaemonFetchesOutsideTheWindowAndInstallsWhenItOpens() async throws {
        let lab = try await DeviceLab()
        let os1 = try lab.publishOS("1")
        let web1 = try lab.publishApp("web", version: "1", body: "ok: web v1")
        try lab.addTarget("1", os: os1, apps: ["web": web1])
        let gateway = try GatewayLab(factory: lab.factory)
        let uuid = try gateway.register(sysroot: lab.sysroot, name: "windowed", hardwareID: lab.hardwareID)
        try gateway.setConfig(uuid, files: [
            "otter-update-windows.toml": "[update]\nwindows = [\"Mon-Fri 02:00-04:00\"]\n",
            "ignored.json": "{}",
        ])

        // Outside the window, the config arrives and Target 1 is only fetched (over mTLS).
        let outside = try daemon(lab, at: Self.tuesdayMorning)
        #expect(outside.status == 0, "\(outside.err)")
        let layer = lab.sysroot + "/var/lib/otter/conf.d"
        #expect(try String(contentsOfFile: layer + "/otter-update-windows.toml", encoding: .utf8).contains("Mon-Fri 02:00-04:00"))
        #expect(!FileManager.default.fileExists(atPath: layer + "/ignored.json"))
        var state = try status(lab, at: Self.tuesdayMorning)
        #expect(state["current"] == nil)
        #expect((state["inFlight"] as? [String: Any])?["paused"] as? Bool == true, "\(state)")
        let windows = state["updateWindows"] as? [String: Any]
        #expect(windows?["openNow"] as? Bool == false)
        #expect(windows?["opens"] as? String == "2026-12-02T02:00:00Z")
        let text = try lab.otter(["status"], env: ["OTTER_TEST_NOW": Self.tuesdayMorning, "TZ": "UTC"])
        #expect(text.out.contains("windows:  next opens 2026-12-02 02:00 UTC"), "\(text.out)")
        #expect(try gateway.eventTypes(uuid).sorted() == ["EcuDownloadCompleted", "EcuDownloadStarted"])
        #expect(try lab.deployments().isEmpty, "nothing staged outside the window")

        // `otter update` at the console ignores the windows.
        let console = try lab.otter(["update"], env: ["OTTER_TEST_NOW": Self.tuesdayMorning, "TZ": "UTC"])
        #expect(console.status == 100, "\(console.err)")
        try await lab.reboot()
        #expect(try lab.otter(["health"], env: ["OTTER_TEST_NOW": Self.tuesdayMorning, "TZ": "UTC"]).status == 0)
        #expect(try lab.currentVersion() == "1")

        // Target 2 (new OS and app): fetched outside the window.
        let os2 = try lab.publishOS("2")
        let web2 = try lab.publishApp("web", version: "2", body: "ok: web v2")
        try lab.addTarget("2", os: os2, apps: ["web": web2])
        #expect(try daemon(lab, at: Self.tuesdayMorning).status == 0)
        state = try status(lab, at: Self.tuesdayMorning)
        #expect((state["inFlight"] as? [String: Any])?["paused"] as? Bool == true, "\(state)")
        #expect(try lab.deployments().count == 1)

        // An unplanned reboot outside the window: the fetched update is not applied.
        try await lab.reboot()
        #expect(try daemon(lab, at: Self.tuesdayMorning).status == 0)
        #expect(try lab.currentVersion() == "1")
        #expect(try lab.deployments().count == 1, "no OS staged outside the window")
        #expect(lab.appPage()?.hasPrefix("ok: web v1") == true)

        // The window opens: installed and staged; after the boot committed.
        let inside = try daemon(lab, at: Self.wednesdayNight)
        #expect(inside.status == 0, "\(inside.err)")
        #expect(try lab.deployments().count == 2, "\(inside.err)")
        try await lab.reboot()
        let after = try daemon(lab, at: Self.wednesdayLater, cycles: 2)
        #expect(after.status == 0, "\(after.err)")
        #expect(try lab.currentVersion() == "2", "the daemon after the boot said: \(after.err)")
        #expect(lab.appPage()?.hasPrefix("ok: web v2") == true)

        let shown = try gateway.show(uuid)
        let device = shown["device"] as? [String: Any] ?? [:]
        let currentName = (try lab.status()["current"] as? [String: Any])?["name"] as? String
        #expect(currentName != nil && device["targetName"] as? String == currentName, "x-ats-target follows the update: \(device)")
        #expect(device["ostreeHash"] as? String == os2)
        let events = shown["events"] as? [[String: Any]] ?? []
        let ofTarget2 = events.filter { $0["version"] as? String == "2" }
        #expect(Set(ofTarget2.compactMap { $0["type"] as? String }) == [
            "EcuDownloadStarted", "EcuDownloadCompleted", "EcuInstallationStarted", "EcuInstallationApplied", "EcuInstallationCompleted",
        ], "\(ofTarget2)")
        #expect(Set(ofTarget2.compactMap { $0["correlationID"] as? String }).count == 1, "one correlation id for the whole update")
        #expect(ofTarget2.first { $0["type"] as? String == "EcuInstallationCompleted" }?["success"] as? Bool == true)
        let info = shown["systemInfo"] as? [String: String] ?? [:]
        #expect(info["config"]?.contains("otter-update-windows.toml") == true)
        #expect((shown["appsStates"] as? [String: Any])?["appsJSON"] as? String != nil)
    }
}
