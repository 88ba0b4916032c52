import ArgumentParser
import FoundationEssentials
import TUF

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make keys kept away from the factory server.",
        subcommands: [Offline.self])

    struct Offline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an operator's offline TUF targets key (ed25519); keep the file off the server.",
            discussion: "Prints the key id and the public key; the private key goes to FILE (mode 0600), never overwritten.")

        @Option(help: "Where to write the private key.")
        var out: String

        @Flag(help: "Print machine-readable JSON on stdout instead of text.")
        var json = false

        func run() async throws {
            try await reportingFactoryErrors {
                if FileManager.default.fileExists(atPath: out) {
                    throw ValidationError("\(out) exists; choose another file (keys are never overwritten)")
                }
                let key = try TUFSigningKey.generate(.ed25519)
                guard FileManager.default.createFile(atPath: out, contents: Data((try key.privateText + "\n").utf8),
                                                     attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("cannot write \(out)")
                }
                if json {
                    try printFactoryJSON(["keyid": key.keyid, "public": key.publicKey.publicValue, "file": out])
                } else {
                    print("keyid \(key.keyid)")
                    print("public \(key.publicKey.publicValue)")
                }
            }
        }
    }
}
