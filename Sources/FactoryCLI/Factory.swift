import ArgumentParser

/// `otter-factory`: the backend and the operator's tool.
public struct Factory: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "otter-factory",
        abstract: "Publish OS commits and compose apps, sign Targets, and serve devices.",
        subcommands: [])

    public init() {}
}
