import Testing
@testable import Updater

/// The reboot command: a shutdown that ends the command is the reboot under way; a failing
/// command is an error that names it.
@Suite struct CommandRebooterTests {
    @Test func aCommandEndedByTheShutdownsSignalIsTheRebootUnderWay() async throws {
        try await CommandRebooter(command: ["/bin/sh", "-c", "kill -TERM $$"]).reboot()
        try await CommandRebooter(command: ["/bin/sh", "-c", "kill -KILL $$"]).reboot()
    }

    @Test func aFailingOrMissingCommandIsAnError() async throws {
        let failed = await #expect(throws: UpdaterError.self) { try await CommandRebooter(command: ["/bin/sh", "-c", "echo no dbus >&2; exit 3"]).reboot() }
        #expect(failed?.description.contains("failed (exit 3)") == true)
        #expect(failed?.description.contains("no dbus") == true)
        await #expect(throws: UpdaterError.self) { try await CommandRebooter(command: []).reboot() }
        await #expect(throws: UpdaterError.self) { try await CommandRebooter(command: ["/bin/sh", "-c", "kill -INT $$"]).reboot() }
    }
}
