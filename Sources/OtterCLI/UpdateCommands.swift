import ArgumentParser
import FoundationEssentials
import Updater

/// `otter check`: the Targets this device could install.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Refresh the TUF metadata and list the Targets for this device, newest first.",
        discussion: """
        Only Targets whose hardware id and tag match this device ([device] hardware_id and tag in \
        the configuration) are listed. Marks: * current, > update in progress, ! bad (rolled back \
        once; `otter update --force VERSION` retries it).
        """)

    @OptionGroup var device: DeviceOptions

    func run() async throws {
        try await reportingErrors {
            let (targets, rejected) = try await device.agent().updater.check()
            for problem in rejected { printError("otter: warning: ignored \(problem)") }
            if device.global.json {
                try printJSON(targets.map { status in
                    CheckLine(name: status.target.name, version: status.target.version, os: status.target.osCommit,
                              apps: status.target.apps.map(\.name), current: status.isCurrent, pending: status.isPending,
                              bad: status.bad?.reason)
                })
                return
            }
            if targets.isEmpty { print("no Targets for this device"); return }
            for status in targets {
                let mark = status.isCurrent ? "*" : status.isPending ? ">" : status.bad != nil ? "!" : " "
                var line = "\(mark) \(status.target.version)\t\(status.target.name)\tos \(status.target.osCommit.prefix(12))"
                if !status.target.apps.isEmpty { line += "\tapps \(status.target.apps.map(\.name).joined(separator: ","))" }
                if let bad = status.bad { line += "\tbad: \(bad.reason)" }
                print(line)
            }
        }
    }

    struct CheckLine: Encodable {
        var name, version, os: String
        var apps: [String]
        var current, pending: Bool
        var bad: String?
    }
}

/// The shared shape of `fetch`, `install`, `update`.
private func runUpdate(_ device: DeviceOptions, version: String?, force: Bool, until milestone: UpdateMilestone,
                       neverReboot: Bool = false) async throws {
    try await reportingErrors {
        await refreshHubCredentials(try device.configuration())
        let agent = try device.agent(neverReboot: neverReboot)
        let result = try await agent.updater.update(force: force, version: version, until: milestone)
        await reportToGateway(agent)
        try finish(result, json: device.global.json)
    }
}

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download and verify a Target (OS commit and apps) without installing it.",
        discussion: "VERSION defaults to the newest Target not marked bad. The running system is not touched; `otter install` goes on.")

    @OptionGroup var device: DeviceOptions
    @Argument(help: "The Target version.") var version: String?

    func run() async throws { try await runUpdate(device, version: version, force: false, until: .fetched) }
}

struct InstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Fetch (if needed) and install a Target: load app images, or stage a new OS and arm the bootloader.",
        discussion: """
        Running apps keep running. A new OS boots at the next reboot (exit status 100: reboot \
        needed); an apps-only Target starts with `otter start`.
        """)

    @OptionGroup var device: DeviceOptions
    @Argument(help: "The Target version.") var version: String?

    func run() async throws { try await runUpdate(device, version: version, force: false, until: .installed) }
}

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Finish an installed Target: start its apps and run the health check (commit, or roll back).")

    @OptionGroup var device: DeviceOptions
    @Argument(help: "The Target version (default: the update in progress).") var version: String?

    func run() async throws { try await runUpdate(device, version: version, force: false, until: .complete) }
}

struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Fetch, install and start the newest Target (or VERSION) in one go.",
        discussion: """
        An update in progress is continued first. A new OS needs a reboot (exit status 100, or \
        the reboot happens when [update] auto_reboot is set); after the boot `otter health` \
        (otter-health.service) starts the apps, checks health and commits or rolls back.

        Exit status: 0 installed (or nothing new), 1 failed or rolled back, 100 reboot needed.
        """)

    @OptionGroup var device: DeviceOptions
    @Argument(help: "The Target version (default: the newest not marked bad).") var version: String?
    @Flag(help: "Also install a Target marked bad after an earlier rollback.") var force = false

    func run() async throws { try await runUpdate(device, version: version, force: force, until: .complete) }
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Go back to the previous Target: its OS and its apps.",
        discussion: """
        Use this when the device runs but the current Target misbehaves. It undoes an update in \
        progress, or makes the previous OS deployment boot next, restores the previous apps and \
        marks the current Target bad (so it is not installed again by itself). When the OS \
        changes, the device reboots (or, with --no-reboot, tells you to).

        Nothing to roll back to (the first Target after provisioning) is an error that changes nothing.
        Run `otter status` first to see what is current and what the previous Target is.

        Exit status: 0 done, 1 failed, 100 a reboot finishes it.
        """)

    @OptionGroup var device: DeviceOptions
    @Flag(help: "Do not reboot; print that a reboot is needed (otter-rollback.service reboots itself).") var noReboot = false

    func run() async throws {
        try await reportingErrors {
            let agent = try device.agent(neverReboot: noReboot)
            let result = try await agent.updater.rollback()
            await reportToGateway(agent)
            try finish(result, json: device.global.json)
        }
    }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "After a boot: finish the pending update (start apps, run the health check, commit or roll back).",
        discussion: """
        otter-health.service runs this once per boot, before boot-complete.target. With nothing \
        pending it does nothing. Exit status: 0 this boot is good (the Target committed, nothing \
        pending, or a rollback finished on this boot and the previous Target runs: the message \
        says so), 1 the Target failed and its rollback could not finish here, 100 a reboot is \
        needed (into the new OS, or back into the previous one after a failed check).
        """)

    @OptionGroup var device: DeviceOptions

    func run() async throws {
        try await reportingErrors {
            let agent = try device.agent()
            let result = try await agent.updater.resumeAfterBoot()
            await reportToGateway(agent)
            try finish(result, json: device.global.json, bootVerdict: true)
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the current, previous and pending Targets, the booted OS, bootloader flags and the last health report.")

    @OptionGroup var device: DeviceOptions

    func run() async throws {
        try await reportingErrors {
            let agent = try device.agent()
            var status = try await agent.updater.status()
            status.windows = agent.windowStatus()
            if device.global.json { try printJSON(status); return }
            print("current:  \(status.current.map(\.description) ?? "none")")
            print("previous: \(status.previous.map(\.description) ?? "none")")
            if let inFlight = status.inFlight {
                print("update:   \(inFlight.target) at step \(inFlight.step.rawValue)\(inFlight.paused ? " (paused)" : "")"
                      + (inFlight.rollbackReason.map { ", rolling back: \($0)" } ?? ""))
            } else {
                print("update:   none in progress")
            }
            print("booted:   \(status.boot.bootedCommit.map { String($0.prefix(12)) } ?? "unknown")"
                  + (status.defaultCommit.map { "   boots next: \($0.prefix(12))" } ?? ""))
            if let flags = status.bootFlags { print("bootloader: \(flags)") }
            for bad in status.bad { print("bad:      \(bad.name) (\(bad.reason))") }
            if let health = status.lastHealth {
                print("health:   \(health.passed ? "passed" : "FAILED") for \(health.target) — \(health.summary)")
            }
            if let windows = status.windows { print("windows:  \(windows.line)") }
            if status.osDiffersFromCurrent { print("note: the booted OS is not the current Target's; a reboot or rollback is pending") }
        }
    }
}
