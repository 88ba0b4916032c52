import Foundation
import Testing
@testable import Updater

/// The daemon's rule (issue #11): fetch at any time, install only inside a window, unless the
/// Target ignores windows; an unplanned reboot outside a window does not apply a fetched update.
@Suite struct UpdateWindowGateTests {
    let v1 = target(1, os: 1, apps: [app("web", 1)])
    let v2 = target(2, os: 1, apps: [app("web", 2)])
    let windows = try! UpdateWindows(parsing: ["Mon-Fri 02:00-04:00"])
    let outside = ISO8601DateFormatter().date(from: "2026-12-01T10:00:00Z")!  // Tuesday
    let inside = ISO8601DateFormatter().date(from: "2026-12-02T02:30:00Z")!

    func updater(_ rig: Rig, _ targets: [Target], custom: String = "") throws -> Updater {
        let files = try targetsMetadata(targets.map { t in
            var json = entryJSON(t)
            if !custom.isEmpty { json = json.replacingOccurrences(of: #""targetFormat":"OSTREE""#, with: #""targetFormat":"OSTREE","# + custom) }
            return (t.name, json)
        })
        return Updater(executor: rig.executor(), source: FixedTargets(files: files),
                       selection: TargetSelection(hardwareId: "otter-x86", tags: ["main"]))
    }

    @Test func outsideAWindowTheUpdateIsOnlyFetchedAndInstallsWhenTheWindowOpens() async throws {
        let rig = try Rig(current: v1)
        let u = try updater(rig, [v1, v2])
        let gate = { (date: Date) in { (t: Target) in windows.milestone(for: t, at: date, zone: UTCZone()) } }
        #expect(try await u.update(until: gate(outside)) == .finished(.paused(before: .installApps)))
        #expect(try rig.store.current() == v1)
        #expect(rig.device.running == Set(v1.apps))
        // An unplanned reboot, still outside: the fetched update stays fetched.
        rig.device.powerCycle()
        _ = try await u.resumeAfterBoot(until: gate(outside))
        #expect(try rig.store.current() == v1 && rig.device.running == Set(v1.apps))
        #expect(try await u.update(until: gate(outside)) == .finished(.paused(before: .installApps)))
        // The window opens.
        #expect(try await u.update(until: gate(inside)) == .finished(.committed(v2)))
        #expect(rig.device.running == Set(v2.apps))
    }

    @Test func aTargetThatIgnoresWindowsInstallsAtOnce() async throws {
        let rig = try Rig(current: v1)
        let u = try updater(rig, [v1, v2], custom: #""otter-ignore-windows":true"#)
        let chosen = try #require(try await u.check().targets.first?.target)
        #expect(chosen.ignoresWindows == true)
        #expect(windows.milestone(for: chosen, at: outside, zone: UTCZone()) == .complete)
        #expect(try await u.update(until: { windows.milestone(for: $0, at: outside, zone: UTCZone()) }) == .finished(.committed(chosen)))
    }

    @Test func aNonBooleanIgnoreWindowsFlagIsRefused() throws {
        let files = try targetsMetadata([(v2.name, entryJSON(v2).replacingOccurrences(
            of: #""targetFormat":"OSTREE""#, with: #""targetFormat":"OSTREE","otter-ignore-windows":"yes""#))])
        let (targets, rejected) = TargetSelection.parse(files)
        #expect(targets.isEmpty)
        #expect(rejected.first?.detail.contains("otter-ignore-windows must be true or false") == true)
    }
}
