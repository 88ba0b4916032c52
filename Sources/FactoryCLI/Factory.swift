import ArgumentParser

/// `otter-factory`: the backend and the operator's tool.
@available(macOS 10.15, *)
public struct Factory: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "otter-factory",
        abstract: "Publish OS commits and compose apps, sign Targets, and serve devices.",
        subcommands: [
            InitCommand.self, FactoryOSCommand.self, AppsGroupCommand.self, TargetsCommand.self, KeysCommand.self,
            ServeCommand.self, TokensCommand.self, DevicesCommand.self, StatusCommand.self,
            FirmwareCommand.self, RegistryCommand.self,
            ProductionCommand.self, WavesCommand.self, GroupsCommand.self,
        ])

    public init() {}
}

@available(macOS 10.15, *)
extension Factory {
    /// Parses the command line and runs the chosen command (the executable's whole `main`);
    /// `main()` would refuse the async root on Linux for want of an availability annotation.
    public static func runFromCommandLine() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
