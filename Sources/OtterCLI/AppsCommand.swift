import ArgumentParser

/// `otter apps …`: the compose-app half of a Target, one verb at a time.
struct AppsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apps",
        abstract: "Fetch, install, start and inspect compose apps pinned by digest.",
        subcommands: [
            Fetch.self, Install.self, Start.self, Stop.self, List.self, Status.self, Prune.self,
        ])
}
