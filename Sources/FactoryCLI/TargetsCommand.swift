import ArgumentParser
import Factory

struct TargetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "targets",
        abstract: "Add, list and tag Targets in the CI TUF repository.",
        subcommands: [Add.self, List.self, Tag.self, Refresh.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a Target (an OS commit + compose apps) and re-sign targets, snapshot and timestamp.",
            discussion: """
            Example:
              otter-factory targets add --version 42 --hwid qemu-x86 --tag main \\
                  --os 3a4f…(64 hex) --app shellhttpd=127.0.0.1:5000/factory/shellhttpd@sha256:…
            """)

        @OptionGroup var factory: FactoryOptions

        @Option(help: "The Target version (devices install the highest).")
        var version: String

        @Option(help: "Hardware id of the devices it is for (repeat for several).")
        var hwid: [String]

        @Option(help: "Tag (repeat for several); devices follow one tag.")
        var tag: [String] = []

        @Option(help: "The OSTree commit checksum (from `otter-factory os publish`).")
        var os: String

        @Option(help: ArgumentHelp("A compose app: NAME=URI, URI pinned by digest (repeat).", valueName: "name=uri"))
        var app: [String] = []

        @Option(help: "Target name (default <hwid>-lmp-<version>).")
        var name: String?

        @Option(help: "custom.uri: where devices pull the commit from, if not their configured OSTree server.")
        var osURI: String?

        func validate() throws {
            for spec in app {
                guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec[spec.index(after: eq)...].contains("@sha256:") else {
                    throw ValidationError("--app \(spec): expected NAME=REGISTRY/REPO@sha256:<digest>")
                }
            }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let repository = try FactoryDirectory(existing: factory.directory).ciRepository()
                let apps = app.map { spec in
                    let eq = spec.firstIndex(of: "=")!
                    return TargetSpec.App(name: String(spec[..<eq]), uri: String(spec[spec.index(after: eq)...]))
                }
                let target = TargetSpec(name: name, version: version, hardwareIds: hwid, tags: tag, osCommit: os,
                                        osURI: osURI, apps: apps)
                try repository.add(target)
                if factory.json {
                    try printFactoryJSON(["name": target.name, "targetsVersion": "\(repository.targetsVersion)"])
                } else {
                    print("added \(target.name) (targets.json version \(repository.targetsVersion))")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the Targets, newest version first.")

        @OptionGroup var factory: FactoryOptions

        func run() async throws {
            try await reportingFactoryErrors {
                let targets = try FactoryDirectory(existing: factory.directory).ciRepository().targets()
                    .sorted { (Int($0.version) ?? 0, $0.name) > (Int($1.version) ?? 0, $1.name) }
                if factory.json {
                    try printFactoryJSON(targets.map(TargetJSON.init))
                } else if targets.isEmpty {
                    print("no Targets yet; add one with `otter-factory targets add`")
                } else {
                    for target in targets {
                        let apps = target.apps.map(\.name).joined(separator: ",")
                        print("\(target.name)  version \(target.version)  hwid \(target.hardwareIds.joined(separator: ","))  "
                              + "tags \(target.tags.joined(separator: ","))  os \(target.osCommit.prefix(12))  apps \(apps.isEmpty ? "-" : apps)")
                    }
                }
            }
        }
    }

    struct Refresh: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-sign targets, snapshot and timestamp when they expire soon (run it daily, e.g. from a timer).",
            discussion: """
            TUF metadata expires (365 days after it was signed, by default): a factory that \
            publishes nothing for that long would leave every device unable to accept metadata. \
            This re-signs the CI repository's online roles with new versions and a new expiry when \
            any of them expires within --within-days, and does nothing otherwise. Production \
            targets metadata carries an offline signature and is re-signed by the operator.

            Exit status: 0 (re-signed or still fresh; the output says which), 1 failed.
            """)

        @OptionGroup var factory: FactoryOptions

        @Option(help: ArgumentHelp("Re-sign when metadata expires within this many days.", valueName: "days"))
        var withinDays: Int64 = 30

        func validate() throws {
            guard withinDays >= 0 else { throw ValidationError("--within-days must be 0 or more") }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let repository = try FactoryDirectory(existing: factory.directory).ciRepository()
                let before = repository.earliestOnlineExpiry
                let refreshed = try repository.refresh(ifExpiringWithinDays: withinDays)
                let after = repository.earliestOnlineExpiry
                if factory.json {
                    struct Output: Encodable { var refreshed: Bool; var expires: String?; var targetsVersion: Int64 }
                    try printFactoryJSON(Output(refreshed: refreshed, expires: after?.tufExpires, targetsVersion: repository.targetsVersion))
                } else if refreshed {
                    print("re-signed targets, snapshot and timestamp (version \(repository.targetsVersion)): they expired \(before?.tufExpires ?? "never"), now \(after?.tufExpires ?? "never")")
                } else {
                    print("nothing to do: the metadata expires \(before?.tufExpires ?? "never"), more than \(withinDays) days away")
                }
            }
        }
    }

    struct Tag: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or remove tags of the Targets with a version.",
            discussion: "Example: otter-factory targets tag 42 --add production --remove main")

        @OptionGroup var factory: FactoryOptions

        @Argument(help: "The Target version.")
        var version: String

        @Option(help: "Only Targets for this hardware id.")
        var hwid: String?

        @Option(help: "Tag to add (repeat).")
        var add: [String] = []

        @Option(help: "Tag to remove (repeat).")
        var remove: [String] = []

        func validate() throws {
            if add.isEmpty && remove.isEmpty { throw ValidationError("give --add TAG or --remove TAG") }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let repository = try FactoryDirectory(existing: factory.directory).ciRepository()
                let changed = try repository.retag(version: version, hardwareId: hwid, add: add, remove: remove)
                if factory.json { try printFactoryJSON(["changed": changed]) } else {
                    print(changed.isEmpty ? "nothing changed" : "retagged \(changed.joined(separator: ", "))")
                }
            }
        }
    }
}

struct TargetJSON: Encodable {
    var name, version, os: String
    var hardwareIds, tags: [String]
    var apps: [String: String]

    init(_ target: TargetSpec) {
        name = target.name
        version = target.version
        os = target.osCommit
        hardwareIds = target.hardwareIds
        tags = target.tags
        apps = Dictionary(uniqueKeysWithValues: target.apps.map { ($0.name, $0.uri) })
    }
}
