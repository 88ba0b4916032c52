import ArgumentParser
import Factory
import FoundationEssentials
import Gateway

struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "The fleet as the gateway saw it: devices, their Targets, apps and events.",
        subcommands: [List.self, Show.self, Config.self, SetGroup.self, SetWindows.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List devices, most recently seen first.")

        @OptionGroup var factory: FactoryOptions

        @Option(help: "Only devices that reported this tag.")
        var tag: String?

        @Option(help: "Only devices of this group.")
        var group: String?

        func run() async throws {
            try await reportingFactoryErrors {
                let devices = try await factory.openDatabase().devices(tag: tag, group: group)
                if factory.json { return try printFactoryJSON(devices) }
                if devices.isEmpty { return print("no devices yet; register one with `otter register`") }
                for device in devices {
                    let seen = device.lastSeen.map(formatTime) ?? "never"
                    print("\(device.uuid)  \(device.name)  target=\(device.targetName ?? "unknown")  tags=\(device.tags.joined(separator: ","))  \(device.isProduction ? "production" : "test")  last seen \(seen)")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One device: last seen, current Target, apps states, last events.")

        @OptionGroup var factory: FactoryOptions

        @Argument(help: "The device UUID (its certificate's CN).")
        var uuid: String

        @Option(help: "How many of the latest events to show.")
        var events = 10

        struct Output: Encodable {
            var device: DeviceRecord
            var appsStates: AppsStates?
            var systemInfo: [String: String]
            var events: [DeviceEvent]
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let database = try await factory.openDatabase()
                guard let device = try await database.device(uuid) else {
                    throw FactoryError("no device \(uuid); see `otter-factory devices list`")
                }
                let output = Output(device: device, appsStates: try await database.appsStates(for: uuid),
                                    systemInfo: try await database.systemInfo(for: uuid),
                                    events: try await database.events(for: uuid, limit: events))
                if factory.json { return try printFactoryJSON(output) }
                print("device \(device.uuid) (\(device.name)), \(device.isProduction ? "production" : "test")")
                print("  hardware id: \(device.hardwareID ?? "unknown")")
                print("  last seen:   \(device.lastSeen.map(formatTime) ?? "never")")
                print("  target:      \(device.targetName ?? "unknown")  ostree \(device.ostreeHash ?? "unknown")")
                print("  tags:        \(device.tags.joined(separator: ","))")
                print("  group:       \(device.group ?? "none")")
                if let windows = device.windows { print("  windows:     \(windows.joined(separator: "; "))") }
                print("  apps:        \(device.dockerApps.joined(separator: ","))")
                if let states = output.appsStates {
                    print("  apps states (\(states.deviceTime)): \(states.appsJSON)")
                }
                for kind in output.systemInfo.keys.sorted() { print("  system info: \(kind) (\(output.systemInfo[kind]!.utf8.count) bytes)") }
                print("  last events:")
                for event in output.events {
                    let outcome = event.success.map { $0 ? " ok" : " FAILED" } ?? ""
                    print("    \(event.deviceTime)  \(event.type)\(outcome)  \(event.targetName ?? "")  \(event.details ?? "")")
                }
            }
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Fleet summary: devices per Target and tag, failed and rolled-back updates.")

    @OptionGroup var factory: FactoryOptions

    func run() async throws {
        try await reportingFactoryErrors {
            let status = try await factory.openDatabase().status()
            if factory.json { return try printFactoryJSON(status) }
            print("devices: \(status.devices)")
            print("by target:")
            for (target, count) in status.byTarget.sorted(by: { $0.key < $1.key }) { print("  \(target): \(count)") }
            print("by tag:")
            for (tag, count) in status.byTag.sorted(by: { $0.key < $1.key }) { print("  \(tag): \(count)") }
            print("failed: \(status.failed)")
            print("rolled back: \(status.rolledBack)")
        }
    }
}

/// UTC, seconds precision.
func formatTime(_ seconds: Double) -> String {
    Date(timeIntervalSince1970: seconds).formatted(.iso8601)
}
