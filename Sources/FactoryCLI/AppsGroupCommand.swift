import ArgumentParser

/// `otter-factory apps …`: publishing compose apps for Targets.
struct AppsGroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apps",
        abstract: "Publish compose apps (compose-app v1) to an OCI registry.",
        subcommands: [AppsPublishCommand.self])
}
