import ConfigSyntax
import Foundation
import Testing
@testable import Updater

@Suite("CallbackRunner")
struct CallbackRunnerTests {
    private func environmentFile(_ text: String?) -> [String: String] {
        var result: [String: String] = [:]
        for line in (text ?? "").split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return result
    }

    @Test func callbackSeesTheLmPEnvironmentAndTheCurrentTargetFile() async throws {
        let dir = try HealthScratchDirectory("otter-callback")
        let program = try dir.script("callback", "env > \(dir.path)/env.$MESSAGE\ncat \"$CURRENT_TARGET\" > \(dir.path)/current.$MESSAGE")
        let currentFile = dir.path + "/current-target"
        // Otter itself started by a callback of something else: those variables must not leak.
        let inherited = ["PATH": "/usr/bin:/bin", "OTTER_SITE": "line-3", "RESULT": "OK", "INSTALL_TARGET_NAME": "stale"]
        let runner = CallbackRunner(program: program, currentTargetFile: currentFile, timeout: .seconds(10),
                                    baseEnvironment: inherited)
        let current = CallbackTarget(name: "intel-corei7-64-lmp-41", version: "41")
        let next = CallbackTarget(name: "intel-corei7-64-lmp-42", version: "42")

        let outcome = await runner.run(.installPost, result: .needsCompletion, current: current, installing: next)
        #expect(outcome?.exitCode == 0)
        let env = environmentFile(dir.read("env.install-post"))
        #expect(env["MESSAGE"] == "install-post")
        #expect(env["RESULT"] == "NEEDS_COMPLETION")
        #expect(env["CURRENT_TARGET"] == currentFile)
        #expect(env["CURRENT_TARGET_NAME"] == "intel-corei7-64-lmp-41")
        #expect(env["INSTALL_TARGET_NAME"] == "intel-corei7-64-lmp-42")
        #expect(dir.read("current.install-post") == "TARGET_NAME = \"intel-corei7-64-lmp-41\"\nCUSTOM_VERSION = \"41\"\n")

        await runner.run(.downloadPost, result: .failed(reason: "no space left on /var"), current: current, installing: next)
        #expect(environmentFile(dir.read("env.download-post"))["RESULT"] == "FAILED: no space left on /var")

        await runner.run(.checkForUpdatePre, current: current)
        let pre = environmentFile(dir.read("env.check-for-update-pre"))
        #expect(pre["MESSAGE"] == "check-for-update-pre")
        #expect(pre["RESULT"] == nil)
        #expect(pre["INSTALL_TARGET_NAME"] == nil)
        #expect(pre["OTTER_SITE"] == "line-3")
        #expect(pre["PATH"] == "/usr/bin:/bin")
    }

    @Test func everyStepHasTheMessageNameLmPHandlersExpect() {
        #expect(CallbackEvent.allCases.map(\.rawValue) == [
            "check-for-update-pre", "check-for-update-post", "download-pre", "download-post",
            "install-pre", "install-post", "install-final-pre",
        ])
    }

    @Test func failingCallbackIsLoggedAndDoesNotThrow() async throws {
        let dir = try HealthScratchDirectory("otter-callback")
        let program = try dir.script("callback", "echo handler broke; exit 7")
        let lines = HealthLogLines()
        let runner = CallbackRunner(program: program, currentTargetFile: dir.path + "/current-target",
                                    timeout: .seconds(10), log: lines.sink)
        let outcome = await runner.run(.installPre)
        #expect(outcome?.exitCode == 7)
        #expect(lines.lines.count == 1)
        #expect(lines.lines.first?.contains("exit 7") == true)
        #expect(lines.lines.first?.contains("handler broke") == true)
    }

    @Test func missingCallbackIsLoggedAndDoesNotThrow() async throws {
        let dir = try HealthScratchDirectory("otter-callback")
        let lines = HealthLogLines()
        let runner = CallbackRunner(program: dir.path + "/no-such-handler", currentTargetFile: dir.path + "/current-target",
                                    log: lines.sink)
        #expect(await runner.run(.downloadPre) == nil)
        #expect(lines.lines.first?.contains("no-such-handler") == true)
    }

    @Test func hangingCallbackIsKilledAtItsTimeout() async throws {
        let dir = try HealthScratchDirectory("otter-callback")
        let program = try dir.script("callback", "exec sleep 300")
        let lines = HealthLogLines()
        let runner = CallbackRunner(program: program, currentTargetFile: dir.path + "/current-target",
                                    timeout: .milliseconds(300), log: lines.sink)
        let outcome = await runner.run(.installFinalPre)
        #expect(outcome?.timedOut == true)
        #expect(lines.lines.first?.contains("timed out") == true)
    }

    @Test func noConfiguredProgramDoesNothing() async throws {
        let dir = try HealthScratchDirectory("otter-callback")
        let runner = CallbackRunner(configuration: try OtterConfiguration.load(root: dir.path))
        #expect(runner.program == nil)
        #expect(await runner.run(.installPre, current: CallbackTarget(name: "t", version: "1")) == nil)
        #expect(dir.read("var/lib/otter/current-target") == nil)
    }

    @Test func currentTargetValuesAreEscapedAsTOMLStrings() throws {
        #expect(tomlBasicString(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(tomlBasicString("line\nnext\u{1}") == #""line\nnext\u0001""#)
    }
}
