import Bootloader
import TUF
import Foundation
@testable import Updater

struct FakeFailure: Error, CustomStringConvertible {
    let what: String
    var description: String { "injected failure: \(what)" }
}

/// A whole device in memory: OSTree deployments, the engine's apps, the bootloader env and the
/// health verdict. It outlives the executors made over it, as a real device outlives a crashed
/// `otter` process, and `reboot()` plays the LmP boot script (REFERENCE.md §7).
final class FakeDevice: OSBackend, AppsBackend, BootFlags, HealthChecking, Rebooting, @unchecked Sendable {
    private let lock = NSLock()
    private var _deployments: [String] = []
    /// The deployments before a stage, while the staged one waits for ostree-finalize-staged at
    /// shutdown: a power cut brings these back.
    private var _beforeStage: [String]?
    private var _booted: String?
    private var _bootID = UUID().uuidString
    private var _pulled: Set<String> = []
    private var _fetched: Set<AppRef> = []
    private var _installed: Set<AppRef> = []
    private var _running: Set<AppRef> = []
    private var _env: [String: String] = ["bootlimit": "3"]
    private var _failing: [String: Int] = [:]
    private var _unhealthy: Set<String> = []
    private var _brokenCommits: Set<String> = []
    private var _rebootRequests = 0
    private var _staleBoots = 0
    private var _log: [String] = []

    init(booted commit: String, apps: [AppRef]) {
        _deployments = [commit]
        _booted = commit
        _pulled = [commit]
        _fetched = Set(apps)
        _installed = Set(apps)
        _running = Set(apps)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T { lock.lock(); defer { lock.unlock() }; return try body() }

    // Inspection and control.
    var deployments: [String] { locked { _deployments } }
    var booted: String? { locked { _booted } }
    var running: Set<AppRef> { locked { _running } }
    var env: [String: String] { locked { _env } }
    var rebootRequests: Int { locked { _rebootRequests } }
    var log: [String] { locked { _log } }
    /// The next `times` calls of `operation` fail.
    func fail(_ operation: String, times: Int = .max) { locked { _failing[operation] = times } }
    func heal(_ operation: String) { locked { _failing[operation] = nil } }
    func makeUnhealthy(_ target: Target) { locked { _ = _unhealthy.insert(target.name) } }
    func breakKernel(of commit: String) { locked { _ = _brokenCommits.insert(commit) } }
    /// The next `times` boots take the second deployment although the first is the default and
    /// nothing fell back: a bootloader whose menu was not made again after ostree wrote it.
    func staleBootloader(times: Int) { locked { _staleBoots = times } }

    private func check(_ operation: String) throws {
        _log.append(operation)
        if let left = _failing[operation], left > 0 {
            _failing[operation] = left - 1
            throw FakeFailure(what: operation)
        }
    }

    /// A reboot (power cycle): a clean shutdown first finalizes a staged deployment; a power cut
    /// (`finalizing: false`) loses it, as /run/ostree does. Then U-Boot counts while `upgrade_available=1` and past `bootlimit` sets `rollback=1`
    /// and boots the second deployment; `rollback=1` keeps booting it. A broken kernel never
    /// reaches user space, so the board resets and tries again.
    func powerCycle(finalizing: Bool = true) {
        locked {
            if !finalizing, let before = _beforeStage { _deployments = before }
            _beforeStage = nil
            for _ in 0..<10 {
                if _env["upgrade_available"] == "1" {
                    let count = Int(_env["bootcount"] ?? "0")! + 1
                    _env["bootcount"] = String(count)
                    if count > Int(_env["bootlimit"] ?? "3")! {
                        _env["rollback"] = "1"
                        _env["upgrade_available"] = "0"
                    }
                }
                let stale = _staleBoots > 0 && _deployments.count > 1
                if stale { _staleBoots -= 1 }
                let choice = (_env["rollback"] == "1" || stale) && _deployments.count > 1 ? _deployments[1] : _deployments[0]
                if _brokenCommits.contains(choice) { continue }
                _booted = choice
                _bootID = UUID().uuidString
                return
            }
            fatalError("the fake device never booted")
        }
    }

    // OSBackend
    func observe() async throws -> (bootedCommit: String?, bootID: String) { locked { (_booted, _bootID) } }
    func pull(commit: String) async throws { try locked { try check("pull"); _pulled.insert(commit) } }
    func stage(commit: String) async throws {
        try locked {
            try check("stage")
            guard _pulled.contains(commit) else { throw FakeFailure(what: "stage of an unpulled commit") }
            if _deployments.first == commit { return }
            if _beforeStage == nil { _beforeStage = _deployments }
            _deployments.removeAll { $0 == commit }
            _deployments.insert(commit, at: 0)
        }
    }
    func makeDefault(commit: String) async throws {
        try locked {
            try check("make-default")
            guard _deployments.contains(commit) else { throw FakeFailure(what: "no deployment of \(commit)") }
            _deployments.removeAll { $0 == commit }
            _deployments.insert(commit, at: 0)
            _beforeStage = nil  // written at once, as OSTreeSystem.makeDefault does
        }
    }
    func defaultCommit() async throws -> String? { locked { _deployments.first } }
    func prune(keeping: [String]) async throws {
        locked { _deployments.removeAll { !keeping.contains($0) && $0 != _booted } }
    }

    // AppsBackend
    func fetch(_ apps: [AppRef]) async throws { try locked { try check("fetch-apps"); _fetched.formUnion(apps) } }
    func install(_ apps: [AppRef]) async throws {
        try locked {
            try check("install-apps")
            guard Set(apps).isSubset(of: _fetched) else { throw FakeFailure(what: "install of unfetched apps") }
            _installed.formUnion(apps)
        }
    }
    func start(_ apps: [AppRef]) async throws {
        try locked {
            try check("start-apps")
            guard Set(apps).isSubset(of: _installed) else { throw FakeFailure(what: "start of uninstalled apps") }
            // A new version of an app replaces the old one's containers (same compose project).
            _running = _running.filter { r in !apps.contains { $0.name == r.name } }.union(apps)
        }
    }
    func stop(_ apps: [AppRef]) async throws { try locked { try check("stop-apps"); _running.subtract(apps) } }
    func running() async throws -> [AppRef] { locked { _running.sorted() } }
    func prune(keeping: [AppRef]) async throws {
        locked {
            _installed = _installed.filter { keeping.contains($0) || _running.contains($0) }
            _fetched = _fetched.filter { keeping.contains($0) || _running.contains($0) }
        }
    }

    // BootFlags
    func arm() throws { try locked { try check("arm"); _env["upgrade_available"] = "1"; _env["bootcount"] = "0"; _env["rollback"] = "0" } }
    func markSuccessful() throws { try locked { try check("mark-successful"); _env["upgrade_available"] = "0"; _env["bootcount"] = "0" } }
    func disarm() throws { try locked { try check("disarm"); _env["upgrade_available"] = "0"; _env["bootcount"] = "0"; _env["rollback"] = "0" } }
    func state() throws -> BootState { try locked { try BootCounter(environment: MemoryEnvironment(_env)).state() } }

    // HealthChecking
    func check(_ target: Target) async -> HealthVerdict {
        locked {
            let missing = target.apps.filter { !_running.contains($0) }
            if _unhealthy.contains(target.name) { return HealthVerdict(passed: false, summary: "required check 10-app-responds exited 1") }
            if !missing.isEmpty { return HealthVerdict(passed: false, summary: "apps not running: \(missing.map(\.name))") }
            return HealthVerdict(passed: true, summary: "all checks passed", reportJSON: #"{"passed":true}"#)
        }
    }

    // Rebooting: only counts; the test decides when the reboot happens.
    func reboot() async throws { locked { _rebootRequests += 1 } }
}

/// A read-only env snapshot so `BootCounter` interprets the fake's flags exactly as the real ones.
struct MemoryEnvironment: BootloaderEnvironment {
    let values: [String: String]
    init(_ values: [String: String]) { self.values = values }
    var backendName: String { "memory" }
    func variables() throws -> [String: String] { values }
    func apply(_ changes: [String: String?]) throws {}
}

/// A recorded crash: thrown by the crash hook so the executor stops dead, as `_exit` would.
struct SimulatedCrash: Error {}

struct FixedTargets: TargetSource {
    let files: [TargetFile]
    func targetFiles() async throws -> [TargetFile] { files }
}

final class RecordingReporter: UpdateReporting, @unchecked Sendable {
    private let lock = NSLock()
    private var _events: [UpdateEvent] = []
    var events: [UpdateEvent] { lock.lock(); defer { lock.unlock() }; return _events }
    func report(_ event: UpdateEvent) async { lock.withLock { _events.append(event) } }
}
