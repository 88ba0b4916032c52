import ArgumentParser

public struct Otter: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "otter", abstract: "Otter device agent")
    public init() {}
    public func run() async throws {}
}
