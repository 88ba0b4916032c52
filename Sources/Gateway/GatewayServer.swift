import Factory
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle

/// `otter-factory serve`: the device gateway (mutual TLS: a client certificate from the device CA
/// is required, or the handshake fails) and the registration endpoint (TLS with the same server
/// certificate, no client certificate: devices have none yet), both until SIGTERM/SIGINT.
public struct GatewayServer: Sendable {
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) { self.host = host; self.port = port }

        /// `host:port` or `:port` (127.0.0.1).
        public init(parsing text: String) throws {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
                throw FactoryError("\(text) is not an address; give host:port, e.g. 127.0.0.1:8443")
            }
            let host = String(text[..<colon])
            self.init(host: host.isEmpty ? "127.0.0.1" : host, port: port)
        }

        public var description: String { "\(host):\(port)" }
    }

    public var factory: FactoryDirectory
    public var deviceAddress: Address
    public var registrationAddress: Address?
    /// The URL devices reach the gateway at (goes into their config at registration).
    public var gatewayURL: String
    /// nil: the factory's SQLite file; `postgres://…`: a shared PostgreSQL database.
    public var database: String?

    public init(factory: FactoryDirectory, deviceAddress: Address, registrationAddress: Address?, gatewayURL: String? = nil,
                database: String? = nil) {
        self.factory = factory
        self.database = database
        self.deviceAddress = deviceAddress
        self.registrationAddress = registrationAddress
        self.gatewayURL = gatewayURL ?? "https://\(deviceAddress)"
    }

    /// TLS 1.2+ with the gateway certificate; with `requireClientCertificate`, peers must present
    /// a certificate that chains to the device CA (the root CA completes the chain; the gateway
    /// checks the issuer is the device CA itself).
    func tlsConfiguration(requireClientCertificate: Bool) throws -> TLSConfiguration {
        let pki = factory.pkiDirectory
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(pki + "/gateway.crt").map { NIOSSLCertificateSource.certificate($0) }
            let key = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(file: pki + "/gateway.key", format: .pem))
            var configuration: TLSConfiguration
            if requireClientCertificate {
                let anchors = try NIOSSLCertificate.fromPEMFile(pki + "/device-ca.crt") + NIOSSLCertificate.fromPEMFile(pki + "/root.crt")
                configuration = TLSConfiguration.makeServerConfigurationWithMTLS(
                    certificateChain: chain, privateKey: key, trustRoots: .certificates(anchors))
            } else {
                configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
            }
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch {
            throw FactoryError("cannot load the gateway's TLS files in \(pki): \(error); they are made by `otter-factory init`")
        }
    }

    /// Serves until SIGTERM or SIGINT; `onListening` is called once per listener with its address.
    public func run(onListening: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let database = try await FactoryDatabase.open(self.database, factory: factory)
        let gateway = try DeviceGateway(factory: factory, database: database)
        let registrar = try await Registrar(factory: factory, database: database, gatewayURL: gatewayURL)
        var logger = Logger(label: "otter-factory")
        logger.logLevel = .warning

        let deviceApp = Application(
            router: gateway.makeRouter(),
            server: try .tls(.http1(), tlsConfiguration: tlsConfiguration(requireClientCertificate: true)),
            configuration: ApplicationConfiguration(address: .hostname(deviceAddress.host, port: deviceAddress.port),
                                                    serverName: "otter-factory", reuseAddress: true),
            onServerRunning: { _ in onListening("devices https://\(deviceAddress) (client certificate required)") },
            logger: logger)
        var services: [any Service] = [deviceApp]
        if let registrationAddress {
            let registrationRouter = registrar.makeRouter()
            AdminAPI(database: database, factory: factory).add(to: registrationRouter)
            let registrationApp = Application(
                router: registrationRouter,
                server: try .tls(.http1(), tlsConfiguration: tlsConfiguration(requireClientCertificate: false)),
                configuration: ApplicationConfiguration(address: .hostname(registrationAddress.host, port: registrationAddress.port),
                                                        serverName: "otter-factory", reuseAddress: true),
                onServerRunning: { _ in onListening("registration and admin API https://\(registrationAddress)") },
                logger: logger)
            services.append(registrationApp)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
