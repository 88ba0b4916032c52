import Foundation
import TUF

/// A repository reachable in memory: records every URL asked for, in order.
final class FakeTransport: TUFTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var _metadata: [String: [UInt8]] = [:]
    private var _artifacts: [String: [UInt8]] = [:]
    private var _requests: [String] = []
    static let metadataBase = "http://repo.test/metadata/"
    static let targetBase = "http://repo.test/targets/"

    init(_ repository: TUFRepository? = nil) {
        if let repository { serve(repository) }
    }

    func serve(_ repository: TUFRepository) {
        lock.withLock {
            _metadata = repository.metadata
            _artifacts = repository.artifacts
        }
    }

    func setMetadata(_ name: String, _ bytes: [UInt8]?) { lock.withLock { _metadata[name] = bytes } }

    var requests: [String] { lock.withLock { _requests } }
    /// Request names relative to the metadata / target base.
    var requestNames: [String] {
        requests.map {
            $0.hasPrefix(Self.metadataBase) ? String($0.dropFirst(Self.metadataBase.count))
                : "targets/" + $0.dropFirst(Self.targetBase.count)
        }
    }
    func clearRequests() { lock.withLock { _requests = [] } }

    func fetch(_ url: String, maxLength: Int) async throws(TUFTransportError) -> [UInt8] {
        let body: [UInt8]? = lock.withLock {
            _requests.append(url)
            if url.hasPrefix(Self.metadataBase) { return _metadata[String(url.dropFirst(Self.metadataBase.count))] }
            if url.hasPrefix(Self.targetBase) { return _artifacts[String(url.dropFirst(Self.targetBase.count))] }
            return nil
        }
        guard let body else { throw .notFound(url: url) }
        guard body.count <= maxLength else { throw .tooLarge(url: url, limit: maxLength) }
        return body
    }
}

/// A client with in-memory metadata and artifact directories, seeded with the repository's
/// root v1 (as `init` would).
struct Harness {
    let repository: TUFRepository
    let transport: FakeTransport
    let metadata: MemoryStore
    let artifacts = MemoryStore()
    var now: Timestamp

    init(_ repository: TUFRepository, now: Timestamp = SystemClock().now()) throws {
        self.repository = repository
        try repository.publishAll(root: true)
        transport = FakeTransport(repository)
        metadata = MemoryStore(["root.json": repository.metadata["1.root.json"]!])
        self.now = now
    }

    func client() -> TUFClient {
        TUFClient(configuration: TUFClientConfiguration(metadataBaseURL: FakeTransport.metadataBase,
                                                        targetBaseURL: FakeTransport.targetBase),
                  transport: transport, store: metadata, clock: FixedClock(now))
    }

    /// Publishes the repository's current state and runs one refresh in a new client (a new
    /// process, as far as state goes); returns the error kind or nil.
    @discardableResult
    func refresh(republish: Bool = false) async -> TUFError.Kind? {
        if republish { transport.serve(repository) }
        transport.clearRequests()
        do {
            try await client().refresh()
            return nil
        } catch {
            return error.kind
        }
    }

    func download(_ names: [String]) async -> TUFError.Kind? {
        transport.clearRequests()
        let client = client()
        do {
            try await client.refresh()
            for name in names {
                let target = try await client.target(name)
                try await client.download(target, into: artifacts)
            }
            return nil
        } catch {
            return error.kind
        }
    }

    func version(of file: String) -> Int64? {
        guard let bytes = metadata.files[file], let json = try? JSONParser().parse(bytes) else { return nil }
        return json["signed"]?["version"]?.integerValue
    }
}

extension TUFRepository {
    /// A small repository: ed25519 keys, consistent snapshot, one target.
    static func small(_ keyType: TUFSigningKey.KeyType = .ed25519, consistent: Bool = true) throws -> TUFRepository {
        let repository = try TUFRepository(keyType: keyType, consistentSnapshot: consistent)
        repository.addTarget("file.txt", content: Array("hello".utf8))
        return repository
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Runs a program and returns its exit status and stdout.
@discardableResult
func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil) throws -> (status: Int32, output: [UInt8]) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    let input = Pipe()
    if stdin != nil { process.standardInput = input }
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, Array(data))
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "tuf-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
