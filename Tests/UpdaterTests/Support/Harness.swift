import Foundation
import TUF
@testable import Updater

func commit(_ n: Int) -> String { String(repeating: String(format: "%x", n % 16), count: 64) }

func app(_ name: String, _ n: Int) -> AppRef {
    AppRef(name: name, uri: "registry.test/factory/\(name)@sha256:" + String(repeating: String(format: "%x", n % 16), count: 64))
}

func target(_ version: Int, os: Int, apps: [AppRef], hardwareId: String = "otter-x86", tags: [String] = ["main"]) -> Target {
    Target(name: "\(hardwareId)-lmp-\(version)", version: String(version), osCommit: commit(os), hardwareIds: [hardwareId],
           tags: tags, apps: apps)
}

/// The targets.json `signed.targets` entry a Target comes from, for parsing through the TUF module.
func targetsMetadata(_ entries: [(name: String, json: String)]) throws -> [TargetFile] {
    let body = entries.map { "\"\($0.name)\": \($0.json)" }.joined(separator: ",")
    let text = #"{"signatures":[],"signed":{"_type":"targets","spec_version":"1.0.0","version":1,"expires":"2099-01-01T00:00:00Z","targets":{"# + body + "}}}"
    return try Metadata<TargetsRole>.parse(Array(text.utf8), role: "targets").signed.allTargets
}

func entryJSON(_ t: Target) -> String {
    let apps = t.apps.map { "\"\($0.name)\":{\"uri\":\"\($0.uri)\"}" }.joined(separator: ",")
    let ids = t.hardwareIds.map { "\"\($0)\"" }.joined(separator: ",")
    let tags = t.tags.map { "\"\($0)\"" }.joined(separator: ",")
    return #"{"hashes":{"sha256":""# + t.osCommit + #""},"length":0,"custom":{"version":""# + t.version
        + #"","hardwareIds":["# + ids + #"],"tags":["# + tags + #"],"targetFormat":"OSTREE","docker_compose_apps":{"# + apps + "}}}"
}

/// A device (outliving processes), its state database, and executors made over them as each
/// `otter` process would make its own.
final class Rig: @unchecked Sendable {
    let device: FakeDevice
    let store: StateStore
    let reporter = RecordingReporter()

    init(current: Target) throws {
        device = FakeDevice(booted: current.osCommit, apps: current.apps)
        store = try StateStore.inMemory()
        try store.setCurrent(current)
    }

    func executor(crashAt: (UpdateStep, CrashHook.Point)? = nil, rebootAutomatically: Bool = false) -> UpdateExecutor {
        let hook = crashAt.map { spec in CrashHook { step, point in if (step, point) == spec { throw SimulatedCrash() } } } ?? .none
        return UpdateExecutor(store: store, os: device, apps: device, bootFlags: device, health: device, reporter: reporter,
                              rebooter: device, clock: SystemClock(),
                              options: ExecutorOptions(rebootAutomatically: rebootAutomatically, crashHook: hook))
    }

    /// Resumes (rebooting whenever asked) until the update is done.
    @discardableResult
    func settle(_ first: UpdateResult? = nil, maxBoots: Int = 6) async throws -> UpdateResult {
        var result = first
        if result == nil { result = try await executor().resume() }
        for _ in 0..<maxBoots {
            guard case .rebootRequired = result! else { return result! }
            device.powerCycle()
            result = try await executor().resume()
        }
        Issue.record("still asking for a reboot after \(maxBoots) boots: \(result!)")
        return result!
    }

    /// The device runs exactly `t`: booted and default commit, the app set, flags cleared, and
    /// the database agreeing, with nothing in flight.
    func expectRuns(_ t: Target, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(device.booted == t.osCommit, "booted commit", sourceLocation: sourceLocation)
        #expect(device.deployments.first == t.osCommit, "default deployment", sourceLocation: sourceLocation)
        #expect(device.running == Set(t.apps), "running apps", sourceLocation: sourceLocation)
        #expect(device.env["upgrade_available"] ?? "0" == "0", "upgrade_available", sourceLocation: sourceLocation)
        #expect(device.env["rollback"] ?? "0" == "0", "rollback flag", sourceLocation: sourceLocation)
        #expect(try store.current() == t, "current Target in the database", sourceLocation: sourceLocation)
        #expect(try store.progress() == nil, "nothing in flight", sourceLocation: sourceLocation)
    }

    func isBad(_ t: Target) throws -> Bool { try store.badTargets().contains { $0.name == t.name } }
}

import Testing
