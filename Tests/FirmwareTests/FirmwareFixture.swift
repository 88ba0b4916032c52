import Foundation
import HTTP
import OCI
import OtterCrypto
import TestSupport
@testable import Firmware

/// A real distribution registry with firmware pushed to it, and the firmware server in process
/// on a free loopback port (stopped by cancelling its task).
final class FirmwareFixture: @unchecked Sendable {
    let registry: DistributionRegistry
    let directory = TempDir("otter-firmware")
    let key: ECDSAP256PrivateKey
    let publicKeyPath: String
    let firmwareRegistry: FirmwareRegistry
    let publisher: FirmwarePublisher
    let http = HTTPClient(configuration: HTTPClient.Configuration(retry: .none, proxy: .none))
    private(set) var service: FirmwareService?
    private var serverTask: Task<Void, any Error>?
    private(set) var port = 0

    init() async throws {
        registry = try DistributionRegistry()
        try await registry.start()
        key = try ECDSAP256PrivateKey()
        publicKeyPath = directory.path + "/cosign.pub"
        try write(try key.publicKey.pem, to: publicKeyPath)
        firmwareRegistry = try FirmwareRegistry(url: "http://\(registry.registry)", repositoryPrefix: "firmware/")
        publisher = FirmwarePublisher(registry: firmwareRegistry)
    }

    deinit { serverTask?.cancel() }

    /// Publishes `binary` as `version` of `device`, signed with the fixture's key unless told otherwise.
    @discardableResult
    func publish(_ binary: [UInt8], device: String = "esp32-1", version: String,
                 signedWith signer: ECDSAP256PrivateKey?? = .none) async throws -> Reference {
        let reference = try await publisher.publish(binary, device: device, version: version,
                                                    layerMediaType: "application/vnd.espressif.esp32.firmware.v1+binary")
        let signingKey: ECDSAP256PrivateKey? = switch signer { case .none: key; case .some(let chosen): chosen }
        if let signingKey { try await publisher.sign(reference, key: signingKey) }
        return reference
    }

    func startServer(pollInterval: Duration = .seconds(60), token: String? = nil, cache: String? = nil) async throws {
        let service = try FirmwareService(configuration: FirmwareConfiguration(
            registry: firmwareRegistry, cosignPublicKey: key.publicKey, cacheDirectory: cache ?? directory.sub("cache"),
            pollInterval: pollInterval))
        self.service = service
        let server = FirmwareServer(service: service, host: "127.0.0.1", port: 0, token: token)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        serverTask = Task { try await server.run(handlingSignals: false) { continuation.yield($0) } }
        for await bound in ports { port = bound; break }
        // Listening when onServerRunning fires; a CI run once saw the first request refused
        // right after it (cause not found): wait until a connection is accepted, 10 s at most.
        for _ in 0..<200 where !acceptsConnections(port: port) {
            try await Task.sleep(for: .milliseconds(50))
        }
        guard acceptsConnections(port: port) else { throw FixtureError("the firmware server on port \(port) accepts no connections") }
    }

    func stopServer() {
        serverTask?.cancel()
        serverTask = nil
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func get(_ path: String, headers: HTTPHeaders = [:]) async throws -> HTTPResponse {
        try await http.send(HTTPRequest(method: .get, url: url + path, headers: headers), maxBodyBytes: 64 << 20)
    }

    /// `/version`'s three lines.
    func version(_ device: String = "esp32-1") async throws -> (status: Int, lines: [String]) {
        let response = try await get("/version?device=\(device)")
        return (response.status, String(decoding: response.body, as: UTF8.self).split(separator: "\n").map(String.init))
    }

    /// zlib's CRC-32 of `bytes`, computed by Python: the independent implementation.
    func zlibCRC32(_ bytes: [UInt8]) throws -> String {
        let path = directory.path + "/crc-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try CRC32Peer.zlib(path)
    }
}
