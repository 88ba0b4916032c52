import ArgumentParser
import Factory
import FoundationEssentials
import Gateway
import HTTP
import TUF

func loadOfflineKey(_ path: String) throws -> TUFSigningKey {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw FactoryError("cannot read the offline key \(path); make one with `otter-factory keys offline --out FILE`")
    }
    do { return try TUFSigningKey(privateText: String(decoding: data, as: UTF8.self)) } catch {
        throw FactoryError("\(path) is not a TUF private key: \(error)")
    }
}

func wallClock() -> Double { Date().timeIntervalSince1970 }

struct ProductionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "production",
        abstract: "Production TUF repositories (one per tag): targets need the online key and an operator's offline key.",
        subcommands: [Init.self, RotateKey.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the production repository of TAG: root v1 (targets threshold 2: online + offline key), empty targets.")

        @OptionGroup var factory: FactoryOptions
        @Argument(help: "The tag production devices follow.") var tag: String
        @Option(name: .customShort("k"), help: "The operator's offline targets key (from `otter-factory keys offline`).")
        var key: String

        func run() async throws {
            try await reportingFactoryErrors {
                let directory = try FactoryDirectory(existing: factory.directory)
                let database = try await factory.openDatabase()
                let offline = try loadOfflineKey(key)
                try await ProductionRepository(database: database, factory: directory).create(tag: tag, offline: offline)
                print("production repository of \(tag): root v1, targets need the online key and offline key \(offline.keyid)")
            }
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Replace the offline targets key of TAG through a new root version; the current targets are re-signed with it.")

        @OptionGroup var factory: FactoryOptions
        @Argument(help: "The tag.") var tag: String
        @Option(name: .customShort("k"), help: "The NEW offline targets key.") var key: String

        func run() async throws {
            try await reportingFactoryErrors {
                let directory = try FactoryDirectory(existing: factory.directory)
                let database = try await factory.openDatabase()
                let version = try await ProductionRepository(database: database, factory: directory)
                    .rotateOfflineKey(tag: tag, newKey: try loadOfflineKey(key))
                print("production root of \(tag) is now version \(version)")
            }
        }
    }
}

struct WavesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waves",
        abstract: "Roll a CI Target out to production devices of a tag in waves.",
        subcommands: [Init.self, Rollout.self, Complete.self, Cancel.self, Status.self, List.self])

    static func store(_ factory: FactoryOptions) async throws -> WaveStore {
        WaveStore(database: try await factory.openDatabase(), factory: try FactoryDirectory(existing: factory.directory))
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create wave NAME: targets holding only CI Target VERSION for TAG, signed with the offline key.",
            discussion: "Also signs, ahead, the production targets `complete` and `cancel` will publish. One active wave per tag.")

        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        @Argument var version: String
        @Argument var tag: String
        @Option(name: .customShort("k"), help: "The operator's offline targets key.") var key: String
        @Flag(help: "Devices install the wave's Target without waiting for their update windows.") var now = false
        @Option(help: ArgumentHelp("Sign here and upload through the factory's admin API at this URL (its registration listener) instead of opening the factory directory.",
                                   valueName: "https://host:port"))
        var admin: String?
        @Option(help: ArgumentHelp("The admin token (`otter-factory tokens admin`); default $OTTER_ADMIN_TOKEN.", valueName: "token"))
        var adminToken: String?
        @Option(help: ArgumentHelp("CA bundle the admin API's certificate chains to (the factory's pki/root.crt).", valueName: "file"))
        var adminCA: String?

        func run() async throws {
            try await reportingFactoryErrors {
                let offline = try loadOfflineKey(key)
                if let admin {
                    try await remote(admin, offline: offline)
                } else {
                    try await local(offline: offline)
                }
            }
        }

        /// Opens the factory directory and database, signs and stores the wave there.
        func local(offline: TUFSigningKey) async throws {
            let store = try await WavesCommand.store(factory)
            let ci = try FactoryDirectory(existing: factory.directory).ciRepository().targets()
            let request = try await store.signingRequest(name: name, version: version, tag: tag, ci: ci, ignoreWindows: now)
            let signed = try WaveStore.sign(request, with: offline)
            try await store.create(name: name, version: version, tag: tag, signed: signed, ignoreWindows: now, at: wallClock())
            print("wave \(name): version \(version) for tag \(tag), no devices yet; add some with `otter-factory waves rollout \(name)`")
        }

        /// Fetches the bodies to sign from the admin API, signs them here, uploads the envelopes.
        func remote(_ base: String, offline: TUFSigningKey) async throws {
            guard let token = adminToken ?? ProcessInfo.processInfo.environment["OTTER_ADMIN_TOKEN"] else {
                throw FactoryError("--admin needs --admin-token or OTTER_ADMIN_TOKEN (made by `otter-factory tokens admin`)")
            }
            let client = HTTPClient(configuration: .init(tls: .init(caBundlePath: adminCA), retry: .init(maxAttempts: 1)))
            let headers: HTTPHeaders = ["Authorization": "Bearer " + token, "Content-Type": "application/json"]
            var fields = JSONObject(["name": .string(name), "version": .string(version), "tag": .string(tag), "ignoreWindows": .bool(now)])
            func post(_ path: String, _ body: JSONObject) async throws -> [UInt8] {
                let url = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
                let response = try await client.send(HTTPRequest(method: .post, url: url, headers: headers,
                                                                 body: .bytes(JSONWriter.compact(.object(body)))))
                guard (200..<300).contains(response.status) else {
                    throw FactoryError("the admin API refused \(path) (HTTP \(response.status)): \(String(decoding: response.body, as: UTF8.self))")
                }
                return response.body
            }
            let answer = try JSONParser().parse(try await post("/admin/waves/signing-request", fields))
            guard let wave = answer["wave"]?.objectValue, let complete = answer["complete"]?.objectValue,
                  let cancel = answer["cancel"]?.objectValue else {
                throw FactoryError("the admin API's signing request has no wave/complete/cancel bodies")
            }
            let signed = try WaveStore.sign(WaveStore.SigningRequest(wave: wave, complete: complete, cancel: cancel), with: offline)
            var envelopes = JSONObject()
            for (field, bytes) in [("wave", signed.wave), ("complete", signed.complete), ("cancel", signed.cancel)] {
                envelopes[field] = try JSONParser().parse(bytes)
            }
            fields["signed"] = .object(envelopes)
            _ = try await post("/admin/waves", fields)
            print("wave \(name): version \(version) for tag \(tag), signed here and uploaded to \(base)")
        }
    }

    struct Rollout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the wave visible to chosen production devices of its tag.",
            discussion: """
            Without --group or --uuids: the whole production fleet of the tag (a sample with --limit). \
            --limit N picks N pseudo-randomly, preferring recently seen devices; devices already \
            running the wave's Target or already in the wave are skipped. At most 10000 per command \
            with --limit or --uuids; whole groups and the fleet have no cap. With --now the chosen \
            devices install without waiting for their update windows (the gateway sends them none \
            while the wave is active), whether or not the wave was made with `init --now`.
            """)

        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        @Option(help: "Only devices of this group.") var group: String?
        @Option(help: "At most this many devices (≤ 10000).") var limit: Int?
        @Option(help: ArgumentHelp("UUIDs separated by commas, semicolons or whitespace, or @FILE.", valueName: "list|@file"))
        var uuids: String?
        @Flag(help: "Only show what would be chosen.") var dryRun = false
        @Flag(name: .customLong("print-uuids"), help: "Print the chosen UUIDs, one a line.") var printUUIDs = false
        @Flag(help: "The chosen devices install without waiting for their update windows.") var now = false
        @Flag(help: "Print the database's plan for the selection query (to stderr).") var explain = false

        func run() async throws {
            try await reportingFactoryErrors {
                if group != nil && uuids != nil { throw ValidationError("give --group or --uuids, not both") }
                let selection: WaveStore.Selection
                if let group {
                    selection = .group(group)
                } else if let uuids {
                    var text = uuids
                    if uuids.hasPrefix("@") {
                        guard let data = FileManager.default.contents(atPath: String(uuids.dropFirst())) else {
                            throw FactoryError("cannot read the UUID file \(uuids.dropFirst())")
                        }
                        text = String(decoding: data, as: UTF8.self)
                    }
                    selection = .uuids(WaveStore.parseUUIDs(text))
                } else {
                    selection = .fleet
                }
                let store = try await WavesCommand.store(factory)
                if explain {
                    let plan = try await store.selectionPlan(name, selection: selection, limit: limit)
                    writeNote("plan of the selection (\(store.database.engine.kind.rawValue)):\n  " + plan.joined(separator: "\n  "))
                }
                let rollout = try await store.rollout(name, selection: selection, limit: limit, dryRun: dryRun, ignoreWindows: now,
                                                      at: wallClock())
                if factory.json { return try printFactoryJSON(rollout) }
                if printUUIDs { for uuid in rollout.devices { print(uuid) } }
                let windows = now ? ", ignoring update windows" : ""
                let summary = dryRun ? "would roll wave \(name) out to \(rollout.devices.count) device(s)\(windows) (dry run)"
                    : "rollout \(rollout.number) of wave \(name): \(rollout.devices.count) device(s)\(windows)"
                if printUUIDs { writeNote(summary) } else { print(summary) }
            }
        }
    }

    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish the wave's Target in the production targets of its tag.")
        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        func run() async throws {
            try await reportingFactoryErrors {
                try await WavesCommand.store(factory).finish(name, complete: true, at: wallClock())
                print("wave \(name) complete: every production device of its tag now sees its Target")
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop the wave: devices not yet updated stay on their version; updated ones keep running it.")
        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        func run() async throws {
            try await reportingFactoryErrors {
                try await WavesCommand.store(factory).finish(name, complete: false, at: wallClock())
                print("wave \(name) cancelled")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-rollout and total counts: rolled out, updated, failed, rolled back, not yet seen.")
        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        func run() async throws {
            try await reportingFactoryErrors {
                let status = try await WavesCommand.store(factory).status(name)
                if factory.json { return try printFactoryJSON(status) }
                let wave = status.wave
                print("wave \(wave.name): version \(wave.version), tag \(wave.tag), \(wave.state)\(wave.ignoreWindows ? ", ignores update windows" : "")")
                func line(_ label: String, _ counts: WaveStore.Counts) {
                    print("  \(label): rolled out \(counts.rolledOut), updated \(counts.updated), failed \(counts.failed), rolled back \(counts.rolledBack), not yet seen \(counts.notYetSeen)")
                }
                for number in status.rollouts.keys.sorted() {
                    let now = status.rolloutsIgnoringWindows.contains(number) ? " (ignores update windows)" : ""
                    line("rollout \(number)\(now)", status.rollouts[number]!)
                }
                line("total", status.total)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every wave, oldest first.")
        @OptionGroup var factory: FactoryOptions
        func run() async throws {
            try await reportingFactoryErrors {
                let waves = try await WaveStore(database: try await factory.openDatabase(),
                                                factory: try FactoryDirectory(existing: factory.directory)).waves()
                if factory.json { return try printFactoryJSON(waves) }
                if waves.isEmpty { return print("no waves yet; start one with `otter-factory waves init`") }
                for wave in waves { print("\(wave.name)  version \(wave.version)  tag \(wave.tag)  \(wave.state)") }
            }
        }
    }
}

struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "Device groups and their update windows.",
        subcommands: [Create.self, List.self, Delete.self, SetWindows.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        func run() async throws {
            try await reportingFactoryErrors {
                try await factory.openDatabase().createGroup(name, at: wallClock())
                print("group \(name) created")
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var factory: FactoryOptions
        func run() async throws {
            try await reportingFactoryErrors {
                let groups = try await factory.openDatabase().groups()
                if factory.json { return try printFactoryJSON(groups) }
                if groups.isEmpty { return print("no groups yet; create one with `otter-factory groups create NAME`") }
                for group in groups {
                    print("\(group.name)  \(group.devices) device(s)  windows: \(group.windows.isEmpty ? "any time" : group.windows.joined(separator: "; "))")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        func run() async throws {
            try await reportingFactoryErrors {
                try await factory.openDatabase().deleteGroup(name)
                print("group \(name) deleted")
            }
        }
    }

    struct SetWindows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-windows",
            abstract: "Set the update windows of a group (device-local time), e.g. \"Mon-Fri 02:00-04:00\"; none clears them.")
        @OptionGroup var factory: FactoryOptions
        @Argument var name: String
        @Argument(help: "Windows: <days> HH:MM-HH:MM, days Mon-Fri, Sat,Sun, Mon or *.") var windows: [String] = []
        func run() async throws {
            try await reportingFactoryErrors {
                try await factory.openDatabase().setGroupWindows(name, windows: windows, at: wallClock())
                print("group \(name): windows \(windows.isEmpty ? "cleared" : windows.joined(separator: "; "))")
            }
        }
    }
}

extension DevicesCommand {
    struct SetGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-group", abstract: "Move devices into a group: UUID… GROUP.")
        @OptionGroup var factory: FactoryOptions
        @Argument(help: "One or more UUIDs, then the group.") var arguments: [String]
        func run() async throws {
            try await reportingFactoryErrors {
                guard arguments.count >= 2, let group = arguments.last else { throw ValidationError("give UUID… GROUP") }
                let missing = try await factory.openDatabase().setGroup(Array(arguments.dropLast()), group: group, at: wallClock())
                guard missing.isEmpty else {
                    throw FactoryError("no device \(missing.joined(separator: ", ")); the others are in \(group) now")
                }
                print("\(arguments.count - 1) device(s) in group \(group)")
            }
        }
    }

    struct SetWindows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-windows",
            abstract: "Set a device's own update windows (they override its group's); --clear goes back to the group's.")
        @OptionGroup var factory: FactoryOptions
        @Argument var uuid: String
        @Argument(help: "Windows: <days> HH:MM-HH:MM.") var windows: [String] = []
        @Flag(help: "Use the group's windows again.") var clear = false
        func run() async throws {
            try await reportingFactoryErrors {
                try await factory.openDatabase().setDeviceWindows(uuid, windows: clear ? nil : windows, at: wallClock())
                print(clear ? "device \(uuid) follows its group's windows" : "device \(uuid): windows \(windows.joined(separator: "; "))")
            }
        }
    }
}
