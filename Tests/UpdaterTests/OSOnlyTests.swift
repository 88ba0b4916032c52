import Foundation
import Testing
@testable import Updater

/// `[apps] enabled = false`: a device without a container engine updates its OS, and a Target
/// that names apps is refused as a configuration mismatch.
@Suite struct OSOnlyTests {
    let v2 = target(2, os: 2, apps: [])
    let v2WithApps = target(2, os: 2, apps: [app("web", 2)])

    /// A freshly provisioned device (no current Target) over the fake OS and bootloader, with the
    /// disabled apps backend.
    func osOnlyExecutor(_ device: FakeDevice, _ store: StateStore, _ reporter: RecordingReporter) -> UpdateExecutor {
        UpdateExecutor(store: store, os: device, apps: DisabledAppsBackend(disabledBy: "/usr/lib/otter/conf.d/50-vm.toml"),
                       bootFlags: device, health: device, reporter: reporter, rebooter: device)
    }

    @Test func anOSOnlyDeviceWithNoCurrentTargetInstallsAnOSTargetAndCommitsIt() async throws {
        let device = FakeDevice(booted: commit(1), apps: [])
        let store = try StateStore.inMemory()
        let reporter = RecordingReporter()
        #expect(try store.current() == nil)
        #expect(try await osOnlyExecutor(device, store, reporter).apply(v2) == .rebootRequired(.reboot, rebooting: false))
        #expect(device.env["upgrade_available"] == "1")
        device.powerCycle()
        #expect(try await osOnlyExecutor(device, store, reporter).resume() == .finished(.committed(v2)))
        #expect(device.booted == v2.osCommit && device.env["upgrade_available"] == "0")
        #expect(try store.current() == v2 && store.progress() == nil)
    }

    @Test func aTargetNamingAppsIsRefusedAsAConfigMismatchWithoutMarkingItBad() async throws {
        let device = FakeDevice(booted: commit(1), apps: [])
        let store = try StateStore.inMemory()
        let reporter = RecordingReporter()
        let error = await #expect(throws: UpdaterError.self) { try await osOnlyExecutor(device, store, reporter).apply(v2WithApps) }
        let message = error?.message ?? ""
        #expect(message.contains("names apps (web)") && message.contains("[apps] enabled = false in /usr/lib/otter/conf.d/50-vm.toml")
                    && message.contains("configuration mismatch"), "\(message)")
        #expect(device.log.isEmpty, "nothing was pulled, staged or armed: \(device.log)")
        #expect(try store.progress() == nil && store.current() == nil)
        #expect(try store.badTargets().isEmpty, "a configuration mismatch is not the Target's fault")
        let queued = try store.queuedEvents(limit: 10).map(\.event)
        #expect(queued.count == 1 && queued.first?.result == .failed && queued.first?.detail?.hasPrefix("refused: the Target names apps") == true,
                "the refusal is queued for the backend: \(queued)")
        // The daemon asks again at every poll: the refusal stays one queued event.
        for _ in 0..<3 { await #expect(throws: UpdaterError.self) { try await osOnlyExecutor(device, store, reporter).apply(v2WithApps) } }
        #expect(try store.queuedEvents(limit: 10).count == 1, "one refusal in the queue after four tries")
    }

    @Test func appsEnabledFalseBuildsAnAgentThatNeverAsksTheEngine() async throws {
        let root = try HealthScratchDirectory("otter-os-only")
        let base = "[device]\nhardware_id = \"otter-x86\"\n[servers]\ntuf_url = \"file://\(root.path)/tuf\"\n[apps]\nengine_socket = \"/run/otter-test-no-engine.sock\"\n"
        try root.write("usr/lib/otter/conf.d/10-base.toml", base)
        let withEngine = try DeviceAgent(configuration: OtterConfiguration.load(root: root.path))
        await #expect(throws: (any Error).self, "the compose backend asks the (absent) engine") { try await withEngine.apps.running() }

        try root.write("etc/otter/conf.d/50-os-only.toml", "[apps]\nenabled = false\n")
        let configuration = try OtterConfiguration.load(root: root.path)
        #expect(configuration.apps.enabled == false && configuration.warnings.isEmpty)
        #expect(configuration.apps.disabledBy == root.path + "/etc/otter/conf.d/50-os-only.toml")
        let agent = try DeviceAgent(configuration: configuration)
        #expect(agent.apps is DisabledAppsBackend)
        #expect(try await agent.apps.running() == [])
    }
}
