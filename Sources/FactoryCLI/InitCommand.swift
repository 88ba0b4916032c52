import ArgumentParser
import Factory

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a factory directory: TUF keys, an empty CI repository, a commit key, an OSTree repo.",
        discussion: """
        The directory gets keys/tuf/<role>.key (online TUF keys), keys/ostree/ed25519.{secret,pub} \
        (commit signing), tuf/ci/ (the CI TUF repository devices fetch), ostree/ (an archive repo) and \
        pki/ (root CA, device CA, gateway certificate for the --san names). \
        An existing factory is never overwritten.

        Devices need two files from it: tuf/ci/1.root.json (their first trusted TUF root) and \
        keys/ostree/ed25519.pub (the commit key, in /etc/otter/trusted.ed25519.d/).
        """)

    @Argument(help: "Where to create the factory.")
    var directory: String

    @Option(help: "Factory name (in certificate subjects).")
    var name: String = "otter"

    @Option(help: ArgumentHelp("DNS name or IPv4 address devices reach the gateway at (repeat).", valueName: "name"))
    var san: [String] = ["localhost", "127.0.0.1"]

    @Flag(help: "Print machine-readable JSON on stdout instead of text.")
    var json = false

    func run() async throws {
        try await reportingFactoryErrors {
            let factory = try await FactoryDirectory.create(at: directory, name: name, gatewayNames: san)
            if json {
                try printFactoryJSON(["directory": factory.path, "root": factory.ciRepositoryPath + "/1.root.json",
                                      "ostreePublicKey": factory.ostreePublicKeyPath])
            } else {
                print("created factory \(factory.path)")
                print("  device TUF root:   \(factory.ciRepositoryPath)/1.root.json")
                print("  commit public key: \(factory.ostreePublicKeyPath)")
            }
        }
    }
}
