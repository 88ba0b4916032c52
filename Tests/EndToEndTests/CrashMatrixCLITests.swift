import Foundation
import Testing
import TestSupport
import Updater

/// `kill -9` of the real `otter` process at every step of both apply paths (through the
/// `OTTER_CRASH_AT` hook, and at random moments), each followed by a restart — and for some a
/// power cut too. The device must end on exactly the old or the new Target: booted commit,
/// app, state database and bootloader flags agreeing, and no store corrupt.
@Suite(.serialized) struct CrashMatrixCLITests {
    /// The Targets the matrix moves between: two OS commits and two app versions, so every case
    /// is a real change of OS (or of app only) without publishing anything new.
    struct Fleet {
        let lab: DeviceLab
        let os: [String]
        let apps: [String]
        let bodies = ["ok one", "ok two"]
        var version = 1

        init() async throws {
            lab = try await DeviceLab()
            os = [try lab.publishOS("1"), try lab.publishOS("2")]
            apps = [try lab.publishApp("web", version: "1", body: bodies[0]), try lab.publishApp("web", version: "2", body: bodies[1])]
            try lab.addTarget("1", os: os[0], apps: ["web": apps[0]])
            try await Self.settle(lab)
        }

        /// Runs `otter` until the update in flight is finished: `otter health` after a crash or
        /// a boot (what otter-health.service and the daemon's start do), `otter update` otherwise.
        /// Returns whether the process was killed by the hook.
        @discardableResult
        static func settle(_ lab: DeviceLab, crashAt: String? = nil, powerCutAfterCrash: Bool = false) async throws -> Bool {
            var pending = crashAt
            var crashed = false
            var command = "update"
            for _ in 0..<16 {
                let run = try lab.otter([command], crashAt: pending)
                switch run.status {
                case 137:
                    pending = nil
                    crashed = true
                    if powerCutAfterCrash { try await lab.reboot() }
                    command = "health"
                case 100:
                    try await lab.reboot()
                    command = "health"
                case 0, 1:
                    if try lab.status()["inFlight"] == nil { return crashed }
                    command = "health"
                default:
                    throw FixtureError("otter \(command) exited \(run.status): \(run.err)")
                }
            }
            throw FixtureError("the update never settled")
        }

        /// Adds the next Target: the other OS commit (or the same one for an apps-only
        /// change) and the other app version.
        mutating func nextTarget(appsOnly: Bool) throws -> (version: String, osIndex: Int, appIndex: Int) {
            version += 1
            let current = (version - 1) % 2
            let osIndex = appsOnly ? currentOSIndex() : 1 - currentOSIndex()
            try lab.addTarget("\(version)", os: os[osIndex], apps: ["web": apps[current]])
            return ("\(version)", osIndex, current)
        }

        func currentOSIndex() -> Int {
            let status = (try? lab.status()) ?? [:]
            let commit = (status["current"] as? [String: Any])?["osCommit"] as? String
            return commit == os[1] ? 1 : 0
        }

        /// Exactly one whole Target: the database's current Target is what booted and what serves.
        func expectConsistent(_ label: String) throws {
            let status = try lab.status()
            let current = status["current"] as? [String: Any]
            let booted = (status["boot"] as? [String: Any])?["bootedCommit"] as? String
            #expect(status["inFlight"] == nil, "\(label): nothing in flight")
            #expect(current?["osCommit"] as? String == booted, "\(label): the current Target's OS is the booted one")
            let appURI = ((current?["apps"] as? [[String: Any]])?.first)?["uri"] as? String
            let expectedBody = appURI == apps[1] ? bodies[1] : bodies[0]
            #expect(lab.appPage() == expectedBody, "\(label): the current Target's app serves")
            #expect((status["bootFlags"] as? [String: Any])?["upgradeAvailable"] as? Bool == false, "\(label): not counting boots")
            let fsck = try runProcess("/usr/bin/ostree", ["fsck", "--repo=\(lab.sysroot)/ostree/repo"])
            #expect(fsck.status == 0, "\(label): ostree fsck: \(fsck.err)")
            let integrity = try runProcess("/usr/bin/sqlite3", ["\(lab.sysroot)/var/lib/otter/state.db", "PRAGMA integrity_check"])
            #expect(integrity.out.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(label): state.db")
        }
    }

    static let newOSCases: [String] = UpdateStep.path(.newOS).flatMap { [$0.rawValue, $0.rawValue + ":after"] }
    static let appsOnlyCases: [String] = UpdateStep.path(.appsOnly).flatMap { [$0.rawValue, $0.rawValue + ":after"] }

    @Test func killedAtEveryStepOfANewOSUpdateEndsOnOneWholeTarget() async throws {
        var fleet = try await Fleet()
        for (index, crash) in Self.newOSCases.enumerated() {
            let next = try fleet.nextTarget(appsOnly: false)
            let crashed = try await Fleet.settle(fleet.lab, crashAt: crash, powerCutAfterCrash: index % 3 == 2)
            #expect(crashed, "the process was killed at \(crash)")
            try fleet.expectConsistent("new OS, killed at \(crash)")
            // A crash never makes a Target bad by itself: the update completes.
            #expect(try fleet.lab.currentVersion() == next.version, "killed at \(crash): resumed to the new Target")
        }
    }

    @Test func killedAtEveryStepOfAnAppsOnlyUpdateEndsOnOneWholeTarget() async throws {
        var fleet = try await Fleet()
        for crash in Self.appsOnlyCases {
            let next = try fleet.nextTarget(appsOnly: true)
            let crashed = try await Fleet.settle(fleet.lab, crashAt: crash)
            #expect(crashed, "the process was killed at \(crash)")
            try fleet.expectConsistent("apps only, killed at \(crash)")
            #expect(try fleet.lab.currentVersion() == next.version, "killed at \(crash): resumed to the new Target")
        }
    }

    @Test func killedAtRandomMomentsEndsOnOneWholeTarget() async throws {
        var fleet = try await Fleet()
        var generator = SystemRandomNumberGenerator()
        for round in 0..<4 {
            _ = try fleet.nextTarget(appsOnly: round % 2 == 1)
            // Start the update, kill -9 it after a random delay, then let it settle.
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtProduct("otter"))
            process.arguments = ["update", "--sysroot", fleet.lab.sysroot]
            process.environment = ProcessInfo.processInfo.environment.merging(["OTTER_SIMULATED_BOOT_FILE": fleet.lab.bootFile]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 100_000...2_500_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try await Fleet.settle(fleet.lab)
            try fleet.expectConsistent("random kill \(round)")
        }
    }
}
