import ArgumentParser
import FoundationEssentials
import Updater

/// Options of the update verbs: the sysroot, the configuration directories and `--json`.
struct DeviceOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("config-dir"),
            help: ArgumentHelp("Read configuration fragments (*.toml) from this directory instead of <sysroot>/usr/lib/otter/conf.d and <sysroot>/etc/otter/conf.d (repeat; later wins).",
                               valueName: "dir"))
    var configDirectories: [String] = []

    func configuration() throws -> OtterConfiguration {
        let configuration = try OtterConfiguration.load(root: global.sysroot,
                                                        directories: configDirectories.isEmpty ? nil : configDirectories)
        for warning in configuration.warnings { printError("otter: warning: \(warning)") }
        return configuration
    }

    func agent(neverReboot: Bool = false) throws -> DeviceAgent {
        try DeviceAgent(configuration: configuration(), options: DeviceAgent.Options(neverReboot: neverReboot))
    }
}

/// After a verb on a registered device: the queued events and the device's state go to the
/// gateway. Best effort: a failure is a warning and the events stay queued for the next verb or
/// the daemon.
func reportToGateway(_ agent: DeviceAgent) async {
    var state = GatewayReportState()
    for failure in await state.report(agent) { printError("otter: warning: gateway report \(failure)") }
}

/// Registry credentials from the gateway before apps are pulled; a failure is a warning (the
/// credentials fetched before, if any, are used).
func refreshHubCredentials(_ configuration: OtterConfiguration) async {
    do { try await HubCredentials.refresh(configuration) } catch { printError("otter: warning: registry credentials: \(error)") }
}

/// Exit status of the update verbs, as aktualizr-lite's scripts expect: 100 when a reboot
/// finishes the job.
enum UpdateExit {
    static let rebootRequired: Int32 = 100
}

/// Prints an update result (one line, or JSON) and turns it into the exit status. As a boot
/// verdict (`otter health`), a rollback that finished on this boot is a good boot: the previous
/// Target runs, so boot-complete.target and the agent after it must come up.
func finish(_ result: UpdateResult, json: Bool, bootVerdict: Bool = false) throws {
    let status: Int32
    let kind: String
    switch result {
    case .alreadyCurrent: (status, kind) = (0, "already-current")
    case .rebootRequired(_, let rebooting): (status, kind) = (UpdateExit.rebootRequired, rebooting ? "rebooting" : "reboot-required")
    case .finished(let outcome):
        switch outcome {
        case .committed: (status, kind) = (0, "committed")
        case .idle: (status, kind) = (0, "idle")
        case .paused: (status, kind) = (0, "paused")
        case .rolledBack: (status, kind) = (bootVerdict ? 0 : 1, "rolled-back")
        case .abandoned: (status, kind) = (1, "abandoned")
        case .rollbackStuck: (status, kind) = (1, "rollback-stuck")
        }
    }
    if json {
        try printJSON(["result": kind, "message": result.description])
    } else if status == 1 {
        printError("otter: \(result.description)")
    } else {
        print(result.description)
    }
    if status != 0 { throw ExitCode(status) }
}
