import Bootloader
import Foundation
import OSTree
import OtterCrypto
import Testing
import TestSupport
@testable import Updater

/// A device made of real parts: a libostree sysroot pulling signed commits from a loopback HTTP
/// server, a U-Boot environment image made by `mkenvimage` (checked with `fw_printenv`), the
/// state database in a WAL file; apps and health are the fake's (the real runtime comes later).
/// Reboots are simulated: `SimulatedBoot` plays the U-Boot script over the env and records which
/// deployment "booted".
final class RealDevice: @unchecked Sendable {
    let tmp = TempDir("otter-updater")
    let server: ServerRepo
    let http: FileServer
    let key: SigningKey
    var commits: [String] = []
    let sysroot: String
    let fwEnvConfig: String
    let flags: BootCounterFlags
    let boot: SimulatedBoot
    let store: StateStore
    let apps: FakeDevice
    var failingCommits: Set<String> = []

    init(versions: Int = 3, signed: Bool = true) async throws {
        server = try ServerRepo(at: tmp.sub("server"))
        key = try SigningKey(in: tmp.path)
        for v in 1...versions {
            try makeRootfs(at: tmp.sub("r\(v)"), version: String(v), payloadFiles: 4, payloadSize: 3000, seed: v)
            let c = try server.commit(tmp.path + "/r\(v)", version: String(v))
            if signed || v == 1 { try await Repo.open(at: server.path).sign(commit: c, with: key.key) }
            commits.append(c)
        }
        http = try FileServer(directory: server.path)
        sysroot = tmp.sub("sysroot")
        try makeSysroot(at: sysroot)
        try write("bootlimit=3\nbootcount=0\nupgrade_available=0\nrollback=0\n", to: tmp.path + "/uboot/vars.txt")
        try sh(["mkenvimage", "-s", "0x2000", "-o", tmp.path + "/uboot/env.bin", tmp.path + "/uboot/vars.txt"])
        fwEnvConfig = tmp.path + "/uboot/fw_env.config"
        try write("\(tmp.path)/uboot/env.bin 0x0 0x2000\n", to: fwEnvConfig)
        flags = BootCounterFlags(BootCounter(environment: try UBootEnvironment(configPath: fwEnvConfig, lockPath: tmp.path + "/uboot/lock")))
        boot = SimulatedBoot(file: sysroot + "/run/otter-test-booted")
        store = try StateStore.open(path: tmp.path + "/var/lib/otter/state.db")
        apps = FakeDevice(booted: "", apps: [])
        // Provisioned with v1: pulled, deployed, booted, recorded as current.
        let os = self.os()
        try await os.pull(commit: commits[0])
        try await os.stage(commit: commits[0])
        try boot.write(commit: commits[0])
        let v1 = target(1)
        try await apps.fetch(v1.apps)
        try await apps.install(v1.apps)
        try await apps.start(v1.apps)
        try store.setCurrent(v1)
    }

    deinit { http.stop() }

    func target(_ version: Int) -> Target {
        Target(name: "otter-x86-lmp-\(version)", version: String(version), osCommit: commits[version - 1],
               hardwareIds: ["otter-x86"], tags: ["main"], apps: [app("web", version)])
    }

    func os() -> OSTreeSystem {
        OSTreeSystem(.init(sysroot: sysroot, remote: Remote(name: "otter", url: http.url), trustedKeys: [key.key.publicKey],
                           deployMode: .immediate, simulatedBootFile: boot.file))
    }

    /// A new process: a fresh view of the sysroot and env over the same files.
    func executor(crashAt: (UpdateStep, CrashHook.Point)? = nil) -> UpdateExecutor {
        let hook = crashAt.map { spec in CrashHook { step, point in if (step, point) == spec { throw SimulatedCrash() } } } ?? .none
        return UpdateExecutor(store: store, os: os(), apps: apps, bootFlags: flags, health: apps, rebooter: apps,
                              options: ExecutorOptions(crashHook: hook))
    }

    func reboot() async throws { try await boot.reboot(sysroot: sysroot, flags: flags, failingCommits: failingCommits) }

    func settle(_ first: UpdateResult) async throws -> UpdateResult {
        var result = first
        for _ in 0..<4 {
            guard case .rebootRequired = result else { return result }
            try await reboot()
            result = try await executor().resume()
        }
        return result
    }

    /// The deployments in boot order, as `ostree admin status` (the independent CLI) lists them.
    func cliDeployments() throws -> [String] {
        try sh(["ostree", "admin", "status", "--sysroot=\(sysroot)"]).split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ").map(String.init)
            return words.first { $0.count >= 66 && $0.contains(".") }.map { String($0.prefix(64)) }
        }
    }

    /// `fw_printenv` (libubootenv, the independent reader) on the same env image.
    func env() throws -> [String: String] {
        var result: [String: String] = [:]
        for line in try sh(["fw_printenv", "-c", fwEnvConfig]).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { result[parts[0]] = parts[1] }
        }
        return result
    }

    func booted() throws -> String? { try boot.read()?.commit }
}

@Suite(.serialized) struct OSTreeIntegrationTests {
    @Test func newOSUpdateCommitsAfterTheRebootAndHealthPass() async throws {
        let d = try await RealDevice(versions: 2)
        let v1 = d.target(1), v2 = d.target(2)
        let first = try await d.executor().apply(v2)
        #expect(first == .rebootRequired(.reboot, rebooting: false))
        #expect(try d.cliDeployments() == [v2.osCommit, v1.osCommit])
        var env = try d.env()
        #expect(env["upgrade_available"] == "1" && env["bootcount"] == "0")

        try await d.reboot()
        #expect(try d.booted() == v2.osCommit)
        #expect(try d.env()["bootcount"] == "1")
        #expect(try await d.executor().resume() == .finished(.committed(v2)))
        env = try d.env()
        #expect(env["upgrade_available"] == "0" && env["bootcount"] == "0" && env["rollback"] == "0")
        #expect(try d.cliDeployments() == [v2.osCommit, v1.osCommit])
        #expect(try d.store.current() == v2 && d.store.previous() == v1)
        #expect(d.apps.running == Set(v2.apps))
        #expect(try d.store.journalMode() == "wal")
    }

    @Test func failedHealthCheckRollsBackToTheOldDeploymentAndMarksBad() async throws {
        let d = try await RealDevice(versions: 2)
        let v1 = d.target(1), v2 = d.target(2)
        d.apps.makeUnhealthy(v2)
        let end = try await d.settle(try await d.executor().apply(v2))
        guard case .finished(.rolledBack(let bad, let to, let reason)) = end else { Issue.record("\(end)"); return }
        #expect(bad == v2 && to == v1 && reason.contains("health check failed"))
        #expect(try d.booted() == v1.osCommit)
        #expect(try d.cliDeployments() == [v1.osCommit, v2.osCommit])
        let env = try d.env()
        #expect(env["upgrade_available"] == "0" && env["bootcount"] == "0" && env["rollback"] == "0")
        #expect(try d.store.badTargets().map(\.name) == [v2.name])
        #expect(try d.store.current() == v1)
        #expect(d.apps.running == Set(v1.apps))
        // Power cuts later never bring v2 back.
        try await d.reboot()
        #expect(try d.booted() == v1.osCommit)
    }

    @Test func bootingTheOldCommitWhileTheUpdateIsPendingCompletesTheRollback() async throws {
        let d = try await RealDevice(versions: 2)
        let v1 = d.target(1), v2 = d.target(2)
        d.failingCommits = [v2.osCommit]
        #expect(try await d.executor().apply(v2) == .rebootRequired(.reboot, rebooting: false))
        try await d.reboot()
        #expect(try d.booted() == v1.osCommit)
        #expect(try d.env()["rollback"] == "1", "U-Boot gave up after bootlimit")
        #expect(try d.cliDeployments().first == v2.osCommit, "libostree still lists the failed deployment first")

        let end = try await d.executor().resume()
        guard case .finished(.rolledBack(let bad, _, let reason)) = end else { Issue.record("\(end)"); return }
        #expect(bad == v2 && reason.contains("boot counter gave up"))
        #expect(try d.cliDeployments() == [v1.osCommit, v2.osCommit])
        let env = try d.env()
        #expect(env["rollback"] == "0" && env["upgrade_available"] == "0")
        #expect(try d.store.badTargets().map(\.name) == [v2.name])
        try await d.reboot()
        #expect(try d.booted() == v1.osCommit)
    }

    @Test func aDeploymentLostBeforeTheRebootIsDeployedAgainAndTheTargetIsNotMarkedBad() async throws {
        let d = try await RealDevice(versions: 2)
        let v1 = d.target(1), v2 = d.target(2)
        #expect(try await d.executor().apply(v2) == .rebootRequired(.reboot, rebooting: false))
        // What a power cut before ostree-finalize-staged leaves: the sysroot without the new
        // deployment, the flags armed. `ostree admin undeploy` (the independent CLI) removes it.
        try sh(["ostree", "admin", "undeploy", "--sysroot=\(d.sysroot)", "0"])
        #expect(try d.cliDeployments() == [v1.osCommit])
        try await d.reboot()
        #expect(try d.booted() == v1.osCommit)
        #expect(try d.env()["bootcount"] == "1")

        #expect(try await d.executor().resume() == .rebootRequired(.reboot, rebooting: false))
        #expect(try d.cliDeployments() == [v2.osCommit, v1.osCommit])
        let env = try d.env()
        #expect(env["upgrade_available"] == "1" && env["bootcount"] == "0")
        #expect(try d.store.badTargets().isEmpty)

        try await d.reboot()
        #expect(try d.booted() == v2.osCommit)
        #expect(try await d.executor().resume() == .finished(.committed(v2)))
        #expect(try d.store.current() == v2 && d.store.previous() == v1)
    }

    @Test func theNextCommitPrunesAllButTheRollbackDeployment() async throws {
        let d = try await RealDevice(versions: 3)
        let v2 = d.target(2), v3 = d.target(3)
        #expect(try await d.settle(try await d.executor().apply(v2)) == .finished(.committed(v2)))
        #expect(try await d.settle(try await d.executor().apply(v3)) == .finished(.committed(v3)))
        #expect(try d.cliDeployments() == [v3.osCommit, v2.osCommit])
    }

    @Test func manualRollbackBootsThePreviousDeploymentAndRestoresItsApps() async throws {
        let d = try await RealDevice(versions: 2)
        let v1 = d.target(1), v2 = d.target(2)
        #expect(try await d.settle(try await d.executor().apply(v2)) == .finished(.committed(v2)))
        let first = try await d.executor().rollback()
        #expect(first == .rebootRequired(.rollbackReboot, rebooting: false))
        #expect(try d.cliDeployments().first == v1.osCommit)
        let end = try await d.settle(first)
        guard case .finished(.rolledBack) = end else { Issue.record("\(end)"); return }
        #expect(try d.booted() == v1.osCommit && d.store.current() == v1)
        #expect(d.apps.running == Set(v1.apps))
    }

    @Test func aCommitSignedByNoTrustedKeyIsNeverDeployed() async throws {
        let d = try await RealDevice(versions: 2, signed: false)
        let v2 = d.target(2)
        let end = try await d.executor().apply(v2)
        guard case .finished(.abandoned(_, let reason)) = end else { Issue.record("\(end)"); return }
        #expect(reason.contains("fetch failed") && reason.contains("is not signed"), "\(reason)")
        #expect(try d.cliDeployments() == [d.commits[0]])
        #expect(try d.env()["upgrade_available"] == "0")
    }

    @Test(arguments: [
        ("stage-os", "after", false), ("arm-bootloader", "before", true), ("arm-bootloader", "after", false),
        ("reboot", "before", false), ("start-apps", "after", true), ("health", "before", true), ("commit", "before", false),
        ("restore-os", "after", true), ("disarm-bootloader", "before", false), ("restore-apps", "before", true),
    ])
    func crashAtAStepThenRestartEndsOnOneWholeTarget(step: String, point: String, powerCut: Bool) async throws {
        let d = try await RealDevice(versions: 2)
        let v1 = d.target(1), v2 = d.target(2)
        let rollback = UpdateStep(rawValue: step)!.isRollback
        if rollback { d.apps.makeUnhealthy(v2) }
        let crash = (UpdateStep(rawValue: step)!, CrashHook.Point(rawValue: point)!)
        await #expect(throws: SimulatedCrash.self) {
            var result = try await d.executor(crashAt: crash).apply(v2)
            while case .rebootRequired = result {
                try await d.reboot()
                result = try await d.executor(crashAt: crash).resume()
            }
        }
        if powerCut { try await d.reboot() }
        _ = try await d.settle(try await d.executor().resume())
        let expected = rollback ? v1 : v2
        #expect(try d.booted() == expected.osCommit)
        #expect(try d.cliDeployments().first == expected.osCommit)
        #expect(d.apps.running == Set(expected.apps))
        let env = try d.env()
        #expect(env["upgrade_available"] == "0" && env["rollback"] == "0")
        #expect(try d.store.current() == expected && d.store.progress() == nil)
        #expect(try d.store.badTargets().map(\.name) == (rollback ? [v2.name] : []))
    }
}
