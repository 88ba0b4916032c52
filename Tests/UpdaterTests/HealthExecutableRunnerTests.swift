import Foundation
import Testing
@testable import Updater

@Suite("ExecutableRunner")
struct HealthExecutableRunnerTests {
    @Test func passesArgumentsAndEnvironmentAndReapsTheChild() async throws {
        let dir = try HealthScratchDirectory()
        let script = try dir.script("show", "echo \"$1|$2|$OTTER_TEST_VALUE|${HOME:+home-set}\"; exit 4")
        let outcome = try await ExecutableRunner(timeout: .seconds(10), environment: ["OTTER_TEST_VALUE": "a b"])
            .run([script, "one", "two words"])
        #expect(outcome.exitCode == 4)
        #expect(outcome.signal == nil)
        #expect(!outcome.timedOut)
        #expect(outcome.outputTail == "one|two words|a b|home-set\n")
        #expect(outcome.statusDescription == "exit 4")
        // Reaped: not even a zombie is left.
        #expect(kill(outcome.processID, 0) == -1 && errno == ESRCH)
    }

    @Test func withoutInheritanceTheChildSeesOnlyTheGivenEnvironment() async throws {
        let outcome = try await ExecutableRunner(timeout: .seconds(10), environment: ["ONLY": "this"], inheritEnvironment: false)
            .run(["/usr/bin/env"])
        #expect(outcome.outputTail == "ONLY=this\n")
    }

    @Test func backgroundChildrenDoNotHoldTheRunOpenAndDoNotOutliveIt() async throws {
        let dir = try HealthScratchDirectory()
        let script = try dir.script("daemonish", "sleep 300 &\necho $! > \(dir.path)/child.pid\necho done")
        let started = Date()
        let outcome = try await ExecutableRunner(timeout: .seconds(30)).run([script])
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(outcome.exitCode == 0)
        #expect(outcome.outputTail == "done\n")
        let child = try #require(dir.read("child.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(await waitForProcessEnd(child))
    }

    /// Pool threads may block or ignore signals; a check must start with none blocked and SIGTERM
    /// and SIGPIPE at their defaults, or a timeout's SIGTERM would not end it.
    @Test func programStartsWithNoBlockedSignalsAndDefaultTermination() async throws {
        let outcome = try await ExecutableRunner(timeout: .seconds(10))
            .run(["/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"])
        var masks: [String: UInt64] = [:]
        for line in outcome.outputTail.split(separator: "\n") {
            let parts = line.split(separator: ":")
            masks[String(parts[0])] = UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16)
        }
        #expect(masks["SigBlk"] == 0)
        let ignored = try #require(masks["SigIgn"])
        for signal in [SIGTERM, SIGPIPE, SIGINT, SIGHUP] {
            #expect(ignored & (1 << UInt64(signal - 1)) == 0, "signal \(signal) is ignored in the child")
        }
    }

    @Test func aMissingProgramIsAnErrorThatNamesIt() async throws {
        await #expect(throws: ExecutableRunnerError.couldNotStart("/nonexistent/otter-check", errno: ENOENT, detail: "posix_spawn")) {
            try await ExecutableRunner(timeout: .seconds(1)).run(["/nonexistent/otter-check"])
        }
        await #expect(throws: ExecutableRunnerError.emptyCommand) {
            try await ExecutableRunner(timeout: .seconds(1)).run([])
        }
    }

    @Test func cancellingTheTaskKillsTheProgram() async throws {
        let dir = try HealthScratchDirectory()
        let script = try dir.script("hang", "exec sleep 300")
        let task = Task { try await ExecutableRunner(timeout: .seconds(300)).run([script]) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let outcome = try await task.value
        #expect(outcome.timedOut)
        #expect(outcome.signal == SIGTERM)
        #expect(outcome.duration < .seconds(10))
    }
}
