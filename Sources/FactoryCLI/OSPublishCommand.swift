import ArgumentParser
import Factory

struct FactoryOSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "os",
        abstract: "Publish OS versions into the factory's OSTree repo.",
        subcommands: [Publish.self])

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commit a root file system (or adopt a commit), sign it, and generate the delta from the previous version.",
            discussion: """
            The commit goes to branch otter/<hwid> of <factory>/ostree, signed with the factory's \
            ed25519 commit key; a static delta from the branch's previous commit is generated. \
            Then add a Target naming it: `otter-factory targets add --os <commit> …`.
            """)

        @OptionGroup var factory: FactoryOptions

        @Argument(help: "The root file system directory (needs usr/lib/os-release or usr/etc/os-release).")
        var rootfs: String?

        @Option(help: "Adopt this commit, already in the factory repo, instead of committing a directory.")
        var commit: String?

        @Option(help: "The version (LmP: an integer that grows with every build).")
        var version: String?

        @Option(help: "The hardware id the OS is for (LmP: the machine name).")
        var hwid: String

        func validate() throws {
            guard (rootfs == nil) != (commit == nil) else {
                throw ValidationError("give either a ROOTFS directory or --commit, not both and not neither")
            }
            if rootfs != nil && version == nil { throw ValidationError("--version is needed when committing a directory") }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let publisher = OSPublisher(factory: try FactoryDirectory(existing: factory.directory))
                let published: OSPublisher.Published
                if let rootfs {
                    published = try await publisher.publish(rootfs: rootfs, version: version!, hardwareId: hwid)
                } else {
                    published = try await publisher.publish(existingCommit: commit!, hardwareId: hwid)
                }
                if factory.json {
                    try printFactoryJSON(["commit": published.commit, "branch": published.branch,
                                          "parent": published.parent ?? "", "delta": published.delta ?? ""])
                } else {
                    print(published.commit)
                    writeNote("committed on \(published.branch), signed" + (published.delta.map { ", delta \($0)" } ?? ""))
                }
            }
        }
    }
}
