import ArgumentParser
import Glibc

/// The device agent's command line. Every command works on `--sysroot` (default `/`), so image
/// builders and tests run it against a throw-away root, never the host.
@available(macOS 10.15, *)
public struct Otter: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "otter",
        abstract: "Otter: over-the-air updates for OSTree-based embedded Linux devices.",
        discussion: """
        Exit status: 0 on success, 1 when the command failed (the message on stderr says what \
        failed and what to do next), 64 for a usage error.

        Start with `otter status` to see the current Target, what boots next and the last \
        health check; `otter rollback` goes back to the previous Target (OS and apps).
        """,
        subcommands: [
            CheckCommand.self, FetchCommand.self, InstallCommand.self, StartCommand.self, UpdateCommand.self,
            RollbackCommand.self, StatusCommand.self, HealthCommand.self, DaemonCommand.self,
            RegisterCommand.self, WhoamiCommand.self, SimulateRebootCommand.self,
            OSCommand.self, AppsCommand.self, TUFCommand.self,
        ])

    public init() {}
}

@available(macOS 10.15, *)
extension Otter {
    /// Parses the command line and runs the chosen command (the executable's whole `main`).
    public static func runFromCommandLine() async {
        // A parent that spawned us from a thread with signals blocked (Foundation's Process on a
        // pool thread does) would leave SIGTERM blocked, and the daemon could never be stopped
        // gracefully: start from an empty mask, as systemd gives it.
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        var status: Int32 = 0
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            status = exitCode(for: error).rawValue
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if status == 0 { print(message) } else { writeStderr(message + "\n") }
            }
        }
        // _exit, not exit: libcurl's transfer threads may still be winding down, and the C
        // libraries' atexit handlers (OpenSSL's cleanup among them) freeing locks under them
        // crashed a finished `otter register` (SIGSEGV in pthread_rwlock_unlock at exit).
        fflush(nil)  // every stdio stream
        _exit(status)
    }
}
