#if canImport(Glibc)
import Glibc
#endif

/// Reboots with the configured command (`systemctl reboot` by default).
public struct CommandRebooter: Rebooting {
    public let command: [String]

    public init(command: [String]) { self.command = command }

    public func reboot() async throws {
        guard !command.isEmpty else { throw UpdaterError("no reboot command is configured ([update] reboot_command)") }
        let outcome = try await ExecutableRunner(timeout: .seconds(120)).run(command)
        // The shutdown it started may end the command itself (SIGTERM, then SIGKILL): that is the
        // reboot under way, not a failure. A timeout is a failure (the runner killed it).
        if !outcome.timedOut, let signal = outcome.signal, signal == SIGTERM || signal == SIGKILL { return }
        guard outcome.exitCode == 0 else {
            throw UpdaterError("`\(command.joined(separator: " "))` failed (exit \(outcome.exitCode.map(String.init) ?? "signal")): \(outcome.outputTail)")
        }
    }
}
