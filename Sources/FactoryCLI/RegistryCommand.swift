import ArgumentParser
import Factory
import FoundationEssentials

/// `otter-factory registry`: the factory as the token service of its registry.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Token authentication for the factory's registry (the factory signs the tokens).",
        discussion: """
        A distribution registry configured with `auth.token` sends every client to a token realm \
        and accepts only tokens signed by a key in its rootcertbundle. `token-auth` makes that \
        key (registry/token.key, registry/token.crt) and prints the registry's auth section: the \
        realm is the gateway's GET /hub-token, where a device, known by its client certificate, \
        gets pull access (never push). `apps publish --factory DIR` signs its own push tokens \
        with the key; `registry token` prints one for other tools (skopeo \
        --dest-registry-token, CI pipelines).
        """,
        subcommands: [TokenAuth.self, Token.self])

    struct TokenAuth: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token-auth",
            abstract: "Make the registry token key (once) and print the registry config's auth section.")

        @OptionGroup var factory: FactoryOptions

        @Option(help: ArgumentHelp("The realm devices ask for tokens: the gateway URL devices use, plus /hub-token.", valueName: "url"))
        var realm: String

        @Option(help: ArgumentHelp("The registry's service name (the tokens' audience).", valueName: "name"))
        var service: String = RegistryTokenIssuer.defaultService

        func validate() throws {
            guard realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
                throw ValidationError("--realm \(realm) is not a URL; give the gateway's, e.g. https://gateway.example:8443/hub-token")
            }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let directory = try FactoryDirectory(existing: factory.directory)
                let issuer = try RegistryTokenIssuer.loadOrCreate(directory)
                let section = issuer.registryConfiguration(realm: realm, service: service, factory: directory)
                if factory.json {
                    struct Output: Encodable { var realm: String; var service: String; var issuer: String; var rootcertbundle: String }
                    try printFactoryJSON(Output(realm: realm, service: service, issuer: RegistryTokenIssuer.issuer,
                                                rootcertbundle: RegistryTokenIssuer.certificatePath(directory)))
                } else {
                    print(section)
                }
            }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a registry token signed by the factory for the scopes given.")

        @OptionGroup var factory: FactoryOptions

        @Option(name: .customLong("scope"), help: ArgumentHelp("type:name:actions, e.g. repository:images/web:pull,push; repeatable.",
                                                               valueName: "scope"))
        var scopes: [String]

        @Option(help: ArgumentHelp("The registry's service name (the tokens' audience).", valueName: "name"))
        var service: String = RegistryTokenIssuer.defaultService

        @Option(help: ArgumentHelp("Who the token is for (its sub claim).", valueName: "name"))
        var subject: String = "operator"

        @Option(help: ArgumentHelp("Seconds the token is valid (60…86400).", valueName: "seconds"))
        var lifetime: Int64 = 900

        func validate() throws {
            guard !scopes.isEmpty else { throw ValidationError("give at least one --scope") }
            for scope in scopes {
                do { _ = try RegistryScope(parsing: scope) } catch { throw ValidationError("--scope: \(error)") }
            }
            guard (60...86400).contains(lifetime) else { throw ValidationError("--lifetime must be 60…86400 seconds") }
        }

        func run() async throws {
            try await reportingFactoryErrors {
                let directory = try FactoryDirectory(existing: factory.directory)
                guard let issuer = try RegistryTokenIssuer.load(directory) else {
                    throw FactoryError("\(directory.path) has no registry token key; make it with `otter-factory registry token-auth --realm URL`")
                }
                let token = try issuer.token(subject: subject, service: service, access: try scopes.map { try RegistryScope(parsing: $0) },
                                             lifetime: lifetime)
                if factory.json {
                    struct Output: Encodable { var token: String; var expires_in: Int64 }
                    try printFactoryJSON(Output(token: token, expires_in: lifetime))
                } else {
                    print(token)
                }
            }
        }
    }
}
