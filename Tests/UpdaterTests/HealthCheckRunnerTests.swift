import Foundation
import Testing
@testable import Updater

/// Real scripts in real directories; each test has its own.
@Suite("HealthCheckRunner")
struct HealthCheckRunnerTests {
    private func runner(_ dir: HealthScratchDirectory, timeout: Duration = .seconds(30),
                        perCheck: Duration = .seconds(10), tail: Int = 16 * 1024) -> HealthCheckRunner {
        HealthCheckRunner(requiredDirectories: [dir.path + "/required.d"], wantedDirectories: [dir.path + "/wanted.d"],
                          greenDirectories: [dir.path + "/green.d"], redDirectories: [dir.path + "/red.d"],
                          timeout: timeout, perCheckTimeout: perCheck, killGrace: .milliseconds(500),
                          outputTailBytes: tail, appPollInterval: .milliseconds(50))
    }

    @Test func passesWhenEveryRequiredCheckExitsZero() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-a", "echo a ok")
        try dir.script("required.d/20-b", "exit 0")
        let report = await runner(dir).run(log: { _ in })
        #expect(report.verdict == .pass)
        #expect(report.checks.map(\.name) == ["10-a", "20-b"])
        #expect(report.checks.allSatisfy { $0.kind == .required && $0.exitCode == 0 })
        #expect(report.checks[0].outputTail == "a ok\n")
        #expect(report.summary.hasPrefix("health passed"))
    }

    @Test func failsWhenARequiredCheckFailsAndRecordsItsExitCode() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-ok", "exit 0")
        try dir.script("required.d/20-network", "echo no route to gateway >&2; exit 3")
        try dir.script("required.d/30-ok", "exit 0")
        let report = await runner(dir).run(log: { _ in })
        #expect(report.verdict == .fail)
        #expect(report.checks.map(\.exitCode) == [0, 3, 0])
        #expect(report.checks[1].outputTail == "no route to gateway\n")
        #expect(report.summary.contains("required check 20-network exit 3"))
    }

    @Test func wantedFailureIsReportedButDoesNotFailTheVerdict() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-ok", "exit 0")
        try dir.script("wanted.d/10-ntp", "exit 1")
        let report = await runner(dir).run(log: { _ in })
        #expect(report.verdict == .pass)
        #expect(report.checks.map(\.kind) == [.required, .wanted])
        #expect(report.checks[1].passed == false)
        #expect(report.summary.contains("wanted check failed: 10-ntp"))
    }

    @Test func runsRequiredThenWantedEachInNameOrder() async throws {
        let dir = try HealthScratchDirectory()
        let log = dir.path + "/order"
        for name in ["wanted.d/05-w", "required.d/20-b", "required.d/10-a", "wanted.d/01-v", "required.d/15-c"] {
            try dir.script(name, "echo \(name) >> \(log)")
        }
        let report = await runner(dir).run(log: { _ in })
        #expect(report.verdict == .pass)
        #expect(dir.read("order") == "required.d/10-a\nrequired.d/15-c\nrequired.d/20-b\nwanted.d/01-v\nwanted.d/05-w\n")
    }

    @Test func greenbootDirectoriesFromTheConfigurationAreHonoured() async throws {
        let root = try HealthScratchDirectory("otter-greenboot")
        try root.script("etc/otter/health/required.d/10-otter", "exit 0")
        try root.script("etc/greenboot/check/wanted.d/10-gb-wanted.sh", "exit 1")
        // greenboot runs every *.sh through bash, executable or not, and nothing else.
        try root.write("usr/lib/greenboot/check/required.d/50-gb-required.sh",
                       "[[ -n $BASH_VERSION ]] && echo greenboot says no; exit 2\n", mode: 0o644)
        try root.script("usr/lib/greenboot/check/required.d/60-not-a-greenboot-check", "exit 9")
        try root.write("etc/greenboot/red.d/10-red.sh", "echo red > \(root.path)/red-ran\n", mode: 0o644)
        let configuration = try OtterConfiguration.load(root: root.path)
        let report = await HealthCheckRunner(configuration: configuration).run(log: { _ in })
        #expect(report.verdict == .fail)
        #expect(report.checks.map(\.name) == ["10-otter", "50-gb-required.sh", "10-gb-wanted.sh"])
        #expect(report.checks.map(\.kind) == [.required, .required, .wanted])
        #expect(report.checks[1].exitCode == 2)
        #expect(report.checks[1].outputTail == "greenboot says no\n")
        #expect(report.hooks.map(\.name) == ["10-red.sh"])
        #expect(root.read("red-ran") == "red\n")

        // Without greenboot roots its failing check is not run.
        try root.write("etc/otter/conf.d/50.toml", "[health]\ngreenboot_dirs = []\n")
        let otterOnly = await HealthCheckRunner(configuration: try OtterConfiguration.load(root: root.path)).run(log: { _ in })
        #expect(otterOnly.verdict == .pass)
        #expect(otterOnly.checks.map(\.name) == ["10-otter"])
    }

    @Test func nonExecutableFilesAreSkippedWithANote() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-ok", "exit 0")
        let plain = try dir.write("required.d/20-disabled", "#!/bin/sh\nexit 1\n", mode: 0o644)
        try dir.mkdir("required.d/30-subdir")
        try dir.write("required.d/.hidden", "#!/bin/sh\nexit 1\n", mode: 0o755)
        let lines = HealthLogLines()
        let report = await runner(dir).run(log: lines.sink)
        #expect(report.verdict == .pass)
        #expect(report.checks.map(\.name) == ["10-ok"])
        #expect(report.notes.contains { $0.contains(plain) && $0.contains("not executable") })
        #expect(report.notes.contains { $0.contains("30-subdir") })
        #expect(lines.lines.contains { $0.contains(plain) })
    }

    @Test func checkOverrunningItsTimeoutIsKilledTogetherWithItsChildren() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-hang", """
            sleep 300 &
            echo $! > \(dir.path)/child.pid
            echo started
            sleep 300
            """)
        let started = Date()
        let report = await runner(dir, perCheck: .seconds(1)).run(log: { _ in })
        let elapsed = Date().timeIntervalSince(started)
        #expect(report.verdict == .fail)
        let check = try #require(report.checks.first)
        #expect(check.timedOut)
        #expect(check.signal == SIGTERM)
        #expect(check.outputTail == "started\n")
        // Far below the 300 s the check would sleep, with room for a loaded CI machine.
        #expect(elapsed < 60)
        let child = try #require(dir.read("child.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(await waitForProcessEnd(child), "the check's background sleep \(child) survived the timeout")
    }

    @Test func checkIgnoringSIGTERMIsKilledAfterTheGrace() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-stubborn", """
            trap '' TERM
            sleep 300 &
            echo $! > \(dir.path)/child.pid
            wait
            """)
        let report = await runner(dir, perCheck: .milliseconds(500)).run(log: { _ in })
        let check = try #require(report.checks.first)
        #expect(check.timedOut)
        #expect(check.signal == SIGKILL)
        #expect(check.durationSeconds >= 0.9) // 0.5 s timeout + 0.5 s grace
        let child = try #require(dir.read("child.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(await waitForProcessEnd(child))
    }

    @Test func overallTimeoutCutsTheRunningCheckAndSkipsTheRest() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-slow", "exec sleep 30")
        try dir.script("required.d/20-never", "touch \(dir.path)/ran")
        let started = Date()
        let report = await runner(dir, timeout: .milliseconds(1500), perCheck: .seconds(20)).run(log: { _ in })
        #expect(Date().timeIntervalSince(started) < 20, "cut long before the check's 30 s sleep")
        #expect(report.verdict == .fail)
        #expect(report.checks.count == 2)
        #expect(report.checks[0].timedOut)
        #expect(report.checks[1].notRun?.contains("overall health timeout") == true)
        #expect(dir.read("ran") == nil)
    }

    @Test func keepsTheLastBytesOfCombinedOutput() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-chatty", """
            i=0
            while [ $i -lt 2000 ]; do echo "line $i of noise noise noise noise noise"; i=$((i+1)); done
            echo "to stderr" >&2
            echo THE-END
            """)
        let report = await runner(dir, perCheck: .seconds(120), tail: 1024).run(log: { _ in })
        let tail = try #require(report.checks.first?.outputTail)
        #expect(tail.utf8.count == 1024)
        #expect(tail.hasSuffix("line 1999 of noise noise noise noise noise\nto stderr\nTHE-END\n"))
    }

    // MARK: App service states

    @Test func exitedServiceFailsAtOnce() async throws {
        let dir = try HealthScratchDirectory()
        let started = Date()
        let report = await runner(dir).run(apps: ["shellhttpd"], appStates: {
            [AppServiceState(app: "shellhttpd", service: "web", state: "running", health: "healthy"),
             AppServiceState(app: "shellhttpd", service: "worker", state: "exited")]
        }, log: { _ in })
        #expect(report.verdict == .fail)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(report.apps.first { $0.service == "worker" }?.problem == "exited, expected running")
        #expect(report.apps.first { $0.service == "web" }?.problem == nil)
        #expect(report.summary.contains("app shellhttpd service worker"))
    }

    @Test func unhealthyServiceFails() async throws {
        let dir = try HealthScratchDirectory()
        let report = await runner(dir).run(apps: ["db"], appStates: {
            [AppServiceState(app: "db", service: "postgres", state: "running", health: "unhealthy")]
        }, log: { _ in })
        #expect(report.verdict == .fail)
        #expect(report.apps.first?.problem?.contains("unhealthy") == true)
    }

    @Test func startingServiceThatTurnsHealthyWithinTheTimeoutPasses() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-ok", "exit 0")
        let polls = PollCounter()
        let report = await runner(dir, timeout: .seconds(20)).run(apps: ["web"], appStates: {
            let n = await polls.next()
            return [AppServiceState(app: "web", service: "nginx", state: n == 0 ? "missing" : n < 2 ? "created" : "running",
                                    health: n < 5 ? "starting" : "healthy"),
                    AppServiceState(app: "web", service: "sidecar", state: "running")]
        }, log: { _ in })
        #expect(report.verdict == .pass)
        #expect(await polls.count >= 6)
        #expect(report.apps.allSatisfy { $0.problem == nil })
        #expect(report.summary.contains("1 app (2 services) running"))
    }

    @Test func serviceStillStartingAtTheTimeoutFails() async throws {
        let dir = try HealthScratchDirectory()
        let report = await runner(dir, timeout: .milliseconds(600)).run(apps: ["web"], appStates: {
            [AppServiceState(app: "web", service: "nginx", state: "running", health: "starting")]
        }, log: { _ in })
        #expect(report.verdict == .fail)
        #expect(report.apps.first?.problem?.contains("after the 0.6s health timeout") == true)
    }

    @Test func appWithoutAnyServiceFails() async throws {
        let dir = try HealthScratchDirectory()
        let report = await runner(dir, timeout: .milliseconds(300)).run(apps: ["web", "ghost"], appStates: {
            [AppServiceState(app: "web", service: "nginx", state: "running")]
        }, log: { _ in })
        #expect(report.verdict == .fail)
        #expect(report.apps.contains { $0.app == "ghost" && $0.service == nil && $0.problem != nil })
    }

    // MARK: Hooks and the report

    @Test func greenHooksRunOnPassAndRedHooksOnFail() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("green.d/10-green", "echo \"green $OTTER_HEALTH_VERDICT\" >> \(dir.path)/hooks")
        try dir.script("red.d/10-red", "echo \"red $OTTER_HEALTH_VERDICT\" >> \(dir.path)/hooks; exit 1")
        try dir.script("required.d/10-check", "test -e \(dir.path)/healthy")

        let failing = await runner(dir).run(log: { _ in })
        #expect(failing.verdict == .fail)
        #expect(failing.hooks.map(\.name) == ["10-red"])
        #expect(failing.hooks.allSatisfy { $0.kind == .hook })
        #expect(dir.read("hooks") == "red fail\n")

        try dir.write("healthy", "")
        let passing = await runner(dir).run(log: { _ in })
        #expect(passing.verdict == .pass)
        #expect(passing.hooks.map(\.name) == ["10-green"])
        #expect(dir.read("hooks") == "red fail\ngreen pass\n")
    }

    @Test func reportRoundTripsThroughJSON() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-ok", "echo fine")
        let report = await runner(dir).run(apps: ["a"], appStates: { [AppServiceState(app: "a", service: "s", state: "running")] },
                                           log: { _ in })
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let json = try encoder.encode(report)
        let decoded = try decoder.decode(HealthReport.self, from: json)
        #expect(decoded.verdict == .pass)
        #expect(decoded.checks == report.checks)
        #expect(decoded.apps == report.apps)
        #expect(decoded.summary == report.summary)
        #expect(String(decoding: json, as: UTF8.self).contains("\"verdict\":\"pass\""))
        #expect(report.finishedAt >= report.startedAt)

        let stored = try report.jsonText()
        #expect(try HealthReport(jsonText: stored) == report)
    }

    @Test func statusLinesShowEachCheckAndTheLastOutputLineOfFailures() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-ok", "exit 0")
        try dir.script("required.d/20-disk", "echo checking; echo /data is read-only; exit 1")
        let report = await runner(dir).run(apps: ["a"], appStates: { [AppServiceState(app: "a", service: "s", state: "dead")] },
                                           log: { _ in })
        let lines = report.statusLines
        #expect(lines.first == report.summary)
        #expect(lines.contains { $0.hasPrefix("  required 10-ok: exit 0 (") })
        #expect(lines.contains { $0.hasPrefix("  required 20-disk: exit 1 (") })
        #expect(lines.contains("    /data is read-only"))
        #expect(lines.contains("  app a service s: dead, expected running"))
    }
}

private actor PollCounter {
    private(set) var count = 0
    func next() -> Int {
        defer { count += 1 }
        return count
    }
}

@Suite("HealthCheckRunner cancellation")
struct HealthCancellationTests {
    @Test func cancellingStopsWaitingForAppsAndRunsNoFurtherChecks() async throws {
        let dir = try HealthScratchDirectory()
        try dir.script("required.d/10-marker", "touch \(dir.path)/ran")
        try dir.script("red.d/10-red", "touch \(dir.path)/red-ran")
        let runner = HealthCheckRunner(requiredDirectories: [dir.path + "/required.d"], redDirectories: [dir.path + "/red.d"],
                                       timeout: .seconds(120),
                                       appPollInterval: .milliseconds(20))
        let started = Date()
        let task = Task {
            await runner.run(apps: ["web"], appStates: { [AppServiceState(app: "web", service: "nginx", state: "created")] },
                             log: { _ in })
        }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let report = await task.value
        #expect(Date().timeIntervalSince(started) < 60, "well before the 120 s timeout")
        #expect(report.verdict == .fail)
        #expect(report.apps.first?.problem?.contains("cancelled") == true)
        #expect(report.checks.first?.notRun?.contains("cancelled") == true)
        #expect(dir.read("ran") == nil)
        #expect(report.hooks.isEmpty)
        #expect(dir.read("red-ran") == nil)
    }
}
