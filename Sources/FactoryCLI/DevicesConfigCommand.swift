import ArgumentParser
import ConfigSyntax
import Factory
import FoundationEssentials
import Gateway

extension DevicesCommand {
    /// `otter-factory devices config UUID [--set NAME=FILE]… [--unset NAME]…`: the device's
    /// free-form config, served by the gateway's GET /config (fioconfig JSON).
    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or change the config files a device gets from the gateway (GET /config).",
            discussion: """
            Each file is a TOML fragment the device writes into /var/lib/otter/conf.d (between \
            the image's conf.d and /etc's) at its next check. The device applies only schedules, \
            names and limits from there (\(DeviceConfigFiles.gatewaySettable.sorted().joined(separator: ", "))) \
            and refuses a config with any other key as a whole. Update windows are set with `devices \
            set-windows` or `groups set-windows`, which the gateway adds as \(UpdateWindowConfig.configFileName).

            Without --set or --unset the current files are printed.
            """)

        @OptionGroup var factory: FactoryOptions

        @Argument(help: "The device UUID (its certificate's CN).")
        var uuid: String

        @Option(name: .customLong("set"), help: ArgumentHelp("Add or replace file NAME (a plain name ending in .toml) with the contents of FILE; repeatable.",
                                                             valueName: "name=file"))
        var sets: [String] = []

        @Option(name: .customLong("unset"), help: ArgumentHelp("Remove file NAME; repeatable.", valueName: "name"))
        var unsets: [String] = []

        struct Entry: Codable, Equatable {
            var Value: String
            var Unencrypted: Bool?
        }

        func validate() throws {
            for name in sets.map({ String($0.split(separator: "=", maxSplits: 1).first ?? "") }) + unsets {
                guard DeviceConfigFiles.isPlainName(name) else {
                    throw ValidationError("\(name) is not a config file name: use a plain name ending in .toml, e.g. 50-poll.toml")
                }
                guard name != UpdateWindowConfig.configFileName else {
                    throw ValidationError("\(name) is written by the gateway from the update windows: use `devices set-windows`")
                }
            }
            for item in sets where !item.contains("=") {
                throw ValidationError("--set \(item): write NAME=FILE, e.g. --set 50-poll.toml=./poll.toml")
            }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let database = try await factory.openDatabase()
                guard try await database.device(uuid) != nil else {
                    throw FactoryError("no device \(uuid); see `otter-factory devices list`")
                }
                var files: [String: Entry] = [:]
                let stored = try await database.config(for: uuid)
                if let stored {
                    do { files = try JSONDecoder().decode([String: Entry].self, from: Data(stored.body.utf8)) } catch {
                        throw FactoryError("the stored config of \(uuid) is not fioconfig JSON ({\"<file>\": {\"Value\": …}}): \(error)")
                    }
                }
                if !sets.isEmpty || !unsets.isEmpty {
                    for item in sets {
                        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                        guard let data = FileManager.default.contents(atPath: parts[1]) else {
                            throw FactoryError("cannot read \(parts[1]) for --set \(parts[0])")
                        }
                        guard let text = String(validating: Array(data), as: UTF8.self), data.count <= 64 << 10 else {
                            throw FactoryError("\(parts[1]) is not UTF-8 text of at most 64 KiB; a device config file is a TOML fragment")
                        }
                        files[parts[0]] = Entry(Value: text, Unencrypted: true)
                    }
                    for name in unsets { files[name] = nil }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    // Devices ask with If-Modified-Since (whole seconds): every change gets a later second.
                    let at = max(Date().timeIntervalSince1970, (stored?.updatedAt ?? 0).rounded(.down) + 1)
                    try await database.setConfig(String(decoding: try encoder.encode(files), as: UTF8.self), for: uuid, at: at)
                }
                if factory.json { return try printFactoryJSON(files) }
                if files.isEmpty { print("device \(uuid) has no config files") }
                for name in files.keys.sorted() {
                    print("# \(name)")
                    print(files[name]!.Value, terminator: files[name]!.Value.hasSuffix("\n") ? "" : "\n")
                }
            }
        }
    }
}
