import ArgumentParser
import Factory
import FoundationEssentials
import Gateway

struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Registration tokens for `otter register`.",
        subcommands: [Create.self, Admin.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a registration token; it is printed once and only its hash is kept.")

        @OptionGroup var factory: FactoryOptions

        @Option(help: "Days until the token expires (default: never).")
        var expiresDays: Int?

        @Flag(help: "Allow registering production devices (businessCategory=production) with it.")
        var production = false

        @Option(help: "A note on what the token is for.")
        var description: String?

        func validate() throws {
            if let expiresDays, expiresDays < 1 { throw ValidationError("--expires-days must be 1 or more") }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let database = try await factory.openDatabase()
                let now = Date().timeIntervalSince1970
                let expires = expiresDays.map { now + Double($0) * 86400 }
                let token = try await database.createToken(expiresAt: expires, allowProduction: production, description: description, at: now)
                if factory.json {
                    struct Output: Encodable { var token: String; var expiresAt: Double?; var production: Bool }
                    try printFactoryJSON(Output(token: token, expiresAt: expires, production: production))
                } else {
                    print(token)
                }
            }
        }
    }

    struct Admin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the admin API token (replacing the previous one); printed once, only its hash is kept.",
            discussion: "The admin API is served on the registration listener; `otter-factory waves init --admin URL --admin-token TOKEN` uses it.")

        @OptionGroup var factory: FactoryOptions

        func run() async throws {
            try await reportingFactoryErrors {
                print(try await AdminAPI.createToken(try await factory.openDatabase()))
            }
        }
    }
}
