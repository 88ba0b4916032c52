import HTTP
import Testing

@Suite struct MutualTLSTests {
    let certificates: TestCertificates
    let server: TestServer

    init() throws {
        certificates = try TestCertificates.shared.get()
        server = try TestServer(tls: .init(certificate: certificates.serverCertificate, key: certificates.serverKey,
                                           clientCA: certificates.caCertificate))
    }

    func configuration(ca: String?, certificate: String?, key: String?) -> HTTPClient.Configuration {
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.tls = .init(caBundlePath: ca, clientCertificatePath: certificate, clientKeyPath: key)
        return configuration
    }

    @Test func clientWithCertificateAndPrivateCAIsServed() async throws {
        let client = HTTPTestSupport.client(configuration(
            ca: certificates.caCertificate, certificate: certificates.clientCertificate, key: certificates.clientKey))
        let response = try await client.get(server.url("/bytes?n=70000"))
        #expect(response.status == 200)
        #expect(response.body == HTTPTestSupport.content(70_000))
        let second = try await client.get(server.url("/bytes?n=5"))
        #expect(second.metrics.connectionsOpened == 0)
    }

    @Test func clientWithoutCertificateIsRefused() async throws {
        let client = HTTPTestSupport.client(configuration(ca: certificates.caCertificate, certificate: nil, key: nil))
        let error = try await #require(throws: HTTPError.self) {
            _ = try await client.get(server.url("/bytes?n=10&key=k"))
        }
        #expect(error.kind == .tls, "\(error)")
        #expect(error.attempts == 1)
        #expect(try await stats().requests("k") == 0)
    }

    @Test func serverCertificateFromAnotherCAIsRefused() async throws {
        let client = HTTPTestSupport.client(configuration(
            ca: certificates.otherCACertificate, certificate: certificates.clientCertificate, key: certificates.clientKey))
        let error = try await #require(throws: HTTPError.self) {
            _ = try await client.get(server.url("/bytes?n=10&key=k"))
        }
        #expect(error.kind == .tls, "\(error)")
        #expect(error.attempts == 1)
        #expect(try await stats().requests("k") == 0)
    }

    @Test func clientCertificateFromAnotherCAIsRefused() async throws {
        let client = HTTPTestSupport.client(configuration(
            ca: certificates.caCertificate, certificate: certificates.otherClientCertificate,
            key: certificates.otherClientKey))
        let error = try await #require(throws: HTTPError.self) {
            _ = try await client.get(server.url("/bytes?n=10&key=k"))
        }
        #expect(error.kind == .tls, "\(error)")
        #expect(try await stats().requests("k") == 0)
    }

    @Test func systemTrustStoreDoesNotTrustThePrivateCA() async throws {
        let client = HTTPTestSupport.client(configuration(
            ca: nil, certificate: certificates.clientCertificate, key: certificates.clientKey))
        let error = try await #require(throws: HTTPError.self) {
            _ = try await client.get(server.url("/bytes?n=10"))
        }
        #expect(error.kind == .tls, "\(error)")
    }

    @Test func missingClientKeyFileIsATLSError() async throws {
        let client = HTTPTestSupport.client(configuration(
            ca: certificates.caCertificate, certificate: certificates.clientCertificate,
            key: certificates.directory + "/absent.key"))
        let error = try await #require(throws: HTTPError.self) {
            _ = try await client.get(server.url("/bytes?n=10"))
        }
        #expect(error.kind == .tls, "\(error)")
        #expect(error.nextStep?.contains("client certificate") == true)
    }

    @Test func matchingPinnedPublicKeyIsAccepted() async throws {
        var configuration = configuration(
            ca: certificates.caCertificate, certificate: certificates.clientCertificate, key: certificates.clientKey)
        configuration.tls.pinnedPublicKey = certificates.serverPin
        let response = try await HTTPTestSupport.client(configuration).get(server.url("/bytes?n=10"))
        #expect(response.status == 200)
    }

    @Test func serverWithAnotherPublicKeyThanPinnedIsRefused() async throws {
        var configuration = configuration(
            ca: certificates.caCertificate, certificate: certificates.clientCertificate, key: certificates.clientKey)
        configuration.tls.pinnedPublicKey = certificates.unrelatedPin
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client(configuration).get(server.url("/bytes?n=10&key=k"))
        }
        #expect(error.kind == .tls, "\(error)")
        #expect(try await stats().requests("k") == 0)
    }

    func stats() async throws -> TestServer.Stats {
        try await server.stats(tls: (certificates.caCertificate, certificates.clientCertificate, certificates.clientKey))
    }
}
