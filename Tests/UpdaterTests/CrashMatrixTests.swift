import Foundation
import Testing
@testable import Updater

/// Kill the executor at every step of both apply paths and of the rollback — right after the
/// step is recorded (before its effect) and right after its effect (before the next record) —
/// then restart a new executor from the same state database, with or without a reboot in
/// between, and check that the device ends on exactly the old or the new Target.
@Suite struct CrashMatrixTests {
    enum Restart: String, CaseIterable, Sendable {
        /// `kill -9`: the process is gone, the device keeps running.
        case process
        /// A power cut: the device reboots before otter runs again, and a staged deployment not
        /// finalized yet is lost.
        case powerCut
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var scenario: String
        var step: UpdateStep
        var point: CrashHook.Point
        var restart: Restart
        var testDescription: String { "\(scenario) \(step.rawValue):\(point.rawValue) \(restart.rawValue)" }
    }

    static let v1 = target(1, os: 1, apps: [app("web", 1), app("db", 1)])
    static let v2os = target(2, os: 2, apps: [app("web", 2), app("db", 1), app("mqtt", 1)])
    static let v2apps = target(2, os: 1, apps: [app("web", 2), app("mqtt", 1)])

    static func cases(_ scenario: String, _ steps: [UpdateStep]) -> [Case] {
        steps.flatMap { step in
            [CrashHook.Point.beforeEffect, .afterEffect].flatMap { point in
                Restart.allCases.map { Case(scenario: scenario, step: step, point: point, restart: $0) }
            }
        }
    }

    static let appsOnlyPass = cases("apps-only", UpdateStep.path(.appsOnly))
    static let newOSPass = cases("new-os", UpdateStep.path(.newOS))
    static let appsOnlyFail = cases("apps-only-unhealthy", Array(UpdateStep.path(.appsOnly).prefix(5)) + UpdateStep.rollbackPath(.appsOnly))
    static let newOSFail = cases("new-os-unhealthy", Array(UpdateStep.path(.newOS).prefix(8)) + UpdateStep.rollbackPath(.newOS))

    /// Runs the update with a crash at `c`, restarts, and returns the rig once everything settled.
    func crashAndRecover(_ c: Case, target new: Target, unhealthy: Bool) async throws -> Rig {
        let rig = try Rig(current: Self.v1)
        if unhealthy { rig.device.makeUnhealthy(new) }
        var crashed = false
        do {
            var result = try await rig.executor(crashAt: (c.step, c.point)).apply(new)
            // Steps after the reboot run in the next process.
            while case .rebootRequired = result {
                rig.device.powerCycle()
                result = try await rig.executor(crashAt: (c.step, c.point)).resume()
            }
        } catch is SimulatedCrash {
            crashed = true
        }
        #expect(crashed, "the crash point \(c.testDescription) was never reached")
        if c.restart == .powerCut { rig.device.powerCycle(finalizing: false) }
        try await rig.settle()
        return rig
    }

    @Test(arguments: appsOnlyPass)
    func appsOnlyUpdateSurvivesACrashAtEveryStep(_ c: Case) async throws {
        let rig = try await crashAndRecover(c, target: Self.v2apps, unhealthy: false)
        try await rig.expectRuns(Self.v2apps)
    }

    @Test(arguments: newOSPass)
    func newOSUpdateSurvivesACrashAtEveryStep(_ c: Case) async throws {
        let rig = try await crashAndRecover(c, target: Self.v2os, unhealthy: false)
        try await rig.expectRuns(Self.v2os)
        #expect(rig.device.deployments == [Self.v2os.osCommit, Self.v1.osCommit])
    }

    @Test(arguments: appsOnlyFail)
    func appsOnlyRollbackSurvivesACrashAtEveryStep(_ c: Case) async throws {
        let rig = try await crashAndRecover(c, target: Self.v2apps, unhealthy: true)
        try await rig.expectRuns(Self.v1)
        #expect(try rig.isBad(Self.v2apps))
    }

    @Test(arguments: newOSFail)
    func newOSRollbackSurvivesACrashAtEveryStep(_ c: Case) async throws {
        let rig = try await crashAndRecover(c, target: Self.v2os, unhealthy: true)
        try await rig.expectRuns(Self.v1)
        #expect(try rig.isBad(Self.v2os))
        rig.device.powerCycle()
        #expect(rig.device.booted == Self.v1.osCommit, "the old Target stays booted across later reboots")
    }

    static let manualRollback = cases("manual-rollback", UpdateStep.rollbackPath(.newOS))

    @Test(arguments: manualRollback)
    func manualRollbackSurvivesACrashAtEveryStep(_ c: Case) async throws {
        let rig = try Rig(current: Self.v1)
        try await rig.settle(try await rig.executor().apply(Self.v2os))
        try await rig.expectRuns(Self.v2os)
        var crashed = false
        do {
            var result = try await rig.executor(crashAt: (c.step, c.point)).rollback()
            while case .rebootRequired = result {
                rig.device.powerCycle()
                result = try await rig.executor(crashAt: (c.step, c.point)).resume()
            }
        } catch is SimulatedCrash {
            crashed = true
        }
        #expect(crashed, "the crash point \(c.testDescription) was never reached")
        if c.restart == .powerCut { rig.device.powerCycle(finalizing: false) }
        try await rig.settle()
        try await rig.expectRuns(Self.v1)
        #expect(try rig.isBad(Self.v2os))
    }

    @Test func crashSpecNamesAStepAndOptionallyThePoint() {
        #expect(CrashHook.parse("stage-os")! == (.stageOS, .beforeEffect))
        #expect(CrashHook.parse("stage-os:before")! == (.stageOS, .beforeEffect))
        #expect(CrashHook.parse("restore-apps:after")! == (.restoreApps, .afterEffect))
        #expect(CrashHook.parse("stage") == nil)
        #expect(CrashHook.parse("health:during") == nil)
    }

    @Test(arguments: ["stage-os", "stage-os:after", "health", "commit:after"])
    func theEnvironmentHookStopsTheExecutorRightAfterTheRecord(spec: String) async throws {
        let rig = try Rig(current: Self.v1)
        let hook = CrashHook.fromEnvironment(["OTTER_CRASH_AT": spec]) { code in
            #expect(code == 137)
            throw SimulatedCrash()
        }
        let executor = UpdateExecutor(store: rig.store, os: rig.device, apps: rig.device, bootFlags: rig.device, health: rig.device,
                                      rebooter: rig.device, options: ExecutorOptions(crashHook: hook))
        await #expect(throws: SimulatedCrash.self) {
            var result = try await executor.apply(Self.v2os)
            while case .rebootRequired = result {
                rig.device.powerCycle()
                result = try await executor.resume()
            }
        }
        let (step, point) = CrashHook.parse(spec)!
        let recorded = try rig.store.progress()
        if (step, point) != (.commit, .afterEffect) {
            #expect(recorded?.step == step, "the step is in the database before the process dies")
        }
        let log = rig.device.log
        switch (step, point) {
        case (.stageOS, .beforeEffect): #expect(!log.contains("stage"))
        case (.stageOS, .afterEffect): #expect(log.last == "stage" && rig.device.deployments.first == Self.v2os.osCommit)
        case (.commit, .afterEffect): #expect(recorded == nil, "commit clears the record in its own transaction")
        default: break
        }
        try await rig.settle()
        try await rig.expectRuns(Self.v2os)
    }
}
