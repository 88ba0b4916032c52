import ComposeApps
import Foundation
import Testing

@Suite struct ProgramRunnerTests {
    @Test func capturesOutputExitCodeAndRunsInTheDirectory() async throws {
        let result = try await ProgramRunner().run(["/bin/sh", "-c", "pwd; echo oops >&2; exit 7"], in: "/tmp",
                                                   environment: ["OTTER_X": "1"])
        #expect(result.exitCode == 7)
        #expect(!result.succeeded)
        #expect(result.outputText == "/tmp\n")
        #expect(result.errorText == "oops\n")
        #expect(result.summary == "exited with status 7: oops")
    }

    @Test func looksUpThePathAndPassesTheEnvironment() async throws {
        let result = try await ProgramRunner(environment: ["OTTER_A": "a"]).run(["sh", "-c", "echo $OTTER_A$OTTER_B"],
                                                                                environment: ["OTTER_B": "b"])
        #expect(result.succeeded)
        #expect(result.outputText == "ab\n")
    }

    @Test func timeoutKillsTheProgramAndWhatItStarted() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("otter-runner-\(UUID())").path
        let clock = ContinuousClock()
        let started = clock.now
        // The background sleep holds stdout open: the runner must not wait for it.
        let result = try await ProgramRunner().run(["/bin/sh", "-c", "(sleep 30; touch \(marker)) & sleep 30"], timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(result.signal == SIGKILL)
        #expect(clock.now - started < .seconds(10))
        #expect(result.summary.contains("did not finish"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func missingProgramThrowsNamingIt() async throws {
        let error = try await #require(throws: ProgramError.self) { try await ProgramRunner().run(["otter-no-such-program"]) }
        #expect(error.description.contains("otter-no-such-program"))
    }

    @Test func cancellationKillsTheProgram() async throws {
        let task = Task { try await ProgramRunner().run(["/bin/sleep", "30"]) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let result = try await task.value
        #expect(result.signal == SIGKILL)
    }
}
