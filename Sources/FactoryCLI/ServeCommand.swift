import ArgumentParser
import Factory
import FoundationEssentials
import Gateway
import OtterCrypto

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the device gateway (mutual TLS) and device registration until SIGTERM.",
        discussion: """
        The device gateway (--listen) requires a client certificate issued by the factory's device \
        CA: without one the TLS handshake fails. It serves the CI TUF repository under /repo/, the \
        OSTree repo under /ostree/, and takes device reports (/events, /apps-states, /system_info…) \
        into <factory>/factory.db.

        Registration (--register-listen) is TLS with the same server certificate but no client \
        certificate: `otter register` sends a CSR and a token from `otter-factory tokens create` \
        to POST /devices there. Devices check the server against pki/root.crt (its SHA-256 \
        fingerprint is printed at start).

        The registration listener also serves the admin API (/admin/…, `Authorization: Bearer` \
        with the token from `otter-factory tokens admin`): `otter-factory waves init --admin URL` \
        signs a wave with the offline key on the operator's machine and uploads only the signed \
        metadata there.

        Production devices (businessCategory=production in their certificate) get the production \
        repository of the tag they send in x-ats-tags (or of their active wave) under the same \
        /repo/ paths; GET /config adds their update windows as otter-update-windows.toml.
        """)

    @Option(help: ArgumentHelp("The factory directory (made by `otter-factory init`).", valueName: "dir"))
    var factory: String = "."

    @Option(help: ArgumentHelp("Address of the device gateway.", valueName: "host:port"))
    var listen: String = "127.0.0.1:8443"

    @Option(help: ArgumentHelp("Address of the registration endpoint.", valueName: "host:port"))
    var registerListen: String = "127.0.0.1:8444"

    @Flag(help: "Do not serve registration.")
    var noRegistration = false

    @Option(help: ArgumentHelp("URL devices reach the gateway at (default https://<listen>).", valueName: "url"))
    var gatewayURL: String?

    @Option(help: ArgumentHelp("The factory database: postgres://user[:password]@host[:port]/db (several gateways may share it), or a SQLite file (default <factory>/factory.db).",
                               valueName: "url"))
    var database: String?

    func validate() throws {
        for text in [listen, registerListen] {
            do { _ = try GatewayServer.Address(parsing: text) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() async throws {
        try await reportingFactoryErrors {
            let directory = try FactoryDirectory(existing: factory)
            let root = try Certificate(pem: String(decoding: try readFile(directory.pkiDirectory + "/root.crt"), as: UTF8.self))
            let server = GatewayServer(factory: directory, deviceAddress: try GatewayServer.Address(parsing: listen),
                                       registrationAddress: noRegistration ? nil : try GatewayServer.Address(parsing: registerListen),
                                       gatewayURL: gatewayURL, database: database)
            writeNote("otter-factory: factory root CA sha256 fingerprint \(root.sha256Fingerprint)")
            try await server.run(onListening: { writeNote("otter-factory: serving \($0)") })
        }
    }
}

func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw FactoryError("cannot read \(path)") }
    return Array(data)
}
