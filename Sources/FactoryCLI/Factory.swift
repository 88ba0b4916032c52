import ArgumentParser

/// `otter-factory`: the backend and the operator's tool.
public struct Factory: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "otter-factory",
        abstract: "Publish OS commits and compose apps, sign Targets, and serve devices.",
        subcommands: [InitCommand.self, FactoryOSCommand.self, TargetsCommand.self, KeysCommand.self,
                      ServeCommand.self, TokensCommand.self, DevicesCommand.self, StatusCommand.self])

    public init() {}
}

extension Factory {
    /// Parses the command line and runs the chosen command (the executable's whole `main`);
    /// argument-parser's own async `main` needs an availability annotation Linux ignores.
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
