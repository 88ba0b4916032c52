import ArgumentParser

/// `otter apps …`: the compose-app half of a Target, one verb at a time.
struct AppsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apps",
        abstract: "Fetch, install, start and inspect compose apps pinned by digest.",
        subcommands: [
            // (the app store's and the engine runtime's verbs are listed here)
            Fetch.self, List.self, Prune.self,  // app store: AppsStoreCommands.swift
        ])
}
