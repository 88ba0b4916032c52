import Foundation
import TestSupport
import HTTP
import Synchronization

enum HTTPTestSupport {
    /// Fast retries and short stall detection, no proxy: every test talks to 127.0.0.1 only.
    static var plainConfiguration: HTTPClient.Configuration {
        HTTPClient.Configuration(
            timeouts: .init(connect: .seconds(10), lowSpeedBytesPerSecond: 1, lowSpeedTime: .seconds(20)),
            retry: .init(maxAttempts: 4, initialDelay: .milliseconds(20), maxDelay: .milliseconds(200)),
            proxy: .none)
    }

    static func client(_ configuration: HTTPClient.Configuration = plainConfiguration) -> HTTPClient {
        HTTPClient(configuration: configuration)
    }

    /// The bytes `/bytes?n=` serves: 0, 1, …, 250, 0, 1, …
    static func content(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8($0 % 251) }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("otter-http-tests-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A port on 127.0.0.1 with nobody listening.
    static func closedPort() -> Int { freeLoopbackPort() }
}

/// Collects values reported from the client's transfer thread.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func record(_ value: Value) {
        values.withLock { $0.append(value) }
    }

    var all: [Value] { values.withLock { $0 } }
}
