import Foundation
import Testing
@testable import Updater
import SystemdNotify

/// Which LmP callback (REFERENCE §8) each executor step event becomes.
@Suite struct CallbackReporterTests {
    func event(_ step: String, _ result: UpdateEvent.Result, _ detail: String? = nil) -> UpdateEvent {
        UpdateEvent(time: Date(), correlationID: "c", target: "board-lmp-2", version: "2", step: step, result: result, detail: detail)
    }

    @Test func stepsMapToTheLmPCallbackMessages() {
        #expect(CallbackReporter.callback(for: event("fetch", .started))?.0 == .downloadPre)
        #expect(CallbackReporter.callback(for: event("fetch", .succeeded)).map { [$0.0.rawValue, $0.1?.environmentValue ?? ""] } == ["download-post", "OK"])
        #expect(CallbackReporter.callback(for: event("fetch", .failed, "no space")).map { $0.1?.environmentValue } == "FAILED: no space")
        #expect(CallbackReporter.callback(for: event("install-apps", .started))?.0 == .installPre)
        #expect(CallbackReporter.callback(for: event("reboot", .started)).map { [$0.0.rawValue, $0.1?.environmentValue ?? ""] } == ["install-post", "NEEDS_COMPLETION"])
        #expect(CallbackReporter.callback(for: event("start-apps", .started))?.0 == .installFinalPre)
        #expect(CallbackReporter.callback(for: event("commit", .succeeded)).map { [$0.0.rawValue, $0.1?.environmentValue ?? ""] } == ["install-post", "OK"])
        #expect(CallbackReporter.callback(for: event("mark-bad", .started, "health failed")).map { $0.1?.environmentValue } == "FAILED: health failed")
        #expect(CallbackReporter.callback(for: event("stage-os", .started)) == nil)
    }

    @Test func theCallbackProgramSeesTheInstallTarget() async throws {
        let dir = NSTemporaryDirectory() + "otter-cbr-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = dir + "/callback"
        let fd = open(script, O_WRONLY | O_CREAT | O_CLOEXEC, 0o755)
        let text = "#!/bin/sh\necho \"$MESSAGE $RESULT $INSTALL_TARGET_NAME\" >> \(dir)/calls\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let reporter = CallbackReporter(callbacks: CallbackRunner(program: script, currentTargetFile: dir + "/current-target"),
                                        notifier: SystemdNotifier(environment: [:]))
        await reporter.report(event("fetch", .started))
        await reporter.report(event("commit", .succeeded))
        await reporter.report(event("stage-os", .started))
        let calls = try String(contentsOfFile: dir + "/calls", encoding: .utf8)
        #expect(calls == "download-pre  board-lmp-2\ninstall-post OK board-lmp-2\n")
    }

    @Test func theCallbackProgramSeesTheCurrentTargetAsItIsAtEachEvent() async throws {
        let dir = NSTemporaryDirectory() + "otter-cbr-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = dir + "/callback"
        try "#!/bin/sh\necho \"$MESSAGE $CURRENT_TARGET_NAME $(cat \"$CURRENT_TARGET\" | tr '\\n' ' ')\" >> \(dir)/calls\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let store = try StateStore.inMemory()
        try store.setCurrent(Target(name: "board-lmp-1", version: "1", osCommit: String(repeating: "a", count: 64), hardwareIds: ["board"]))
        let reporter = CallbackReporter(callbacks: CallbackRunner(program: script, currentTargetFile: dir + "/current-target"),
                                        notifier: SystemdNotifier(environment: [:]), current: {
            (try? store.current()).flatMap { $0 }.map { CallbackTarget(name: $0.name, version: $0.version) }
        })
        await reporter.report(event("fetch", .started))
        try store.setCurrent(Target(name: "board-lmp-2", version: "2", osCommit: String(repeating: "b", count: 64), hardwareIds: ["board"]))
        await reporter.report(event("commit", .succeeded))
        let calls = try String(contentsOfFile: dir + "/calls", encoding: .utf8).split(separator: "\n")
        #expect(calls.count == 2)
        #expect(calls.first?.hasPrefix("download-pre board-lmp-1 ") == true && calls.first?.contains("board-lmp-1") == true, "\(calls)")
        #expect(calls.last?.hasPrefix("install-post board-lmp-2 ") == true && calls.last?.contains("\"2\"") == true, "\(calls)")
    }
}
