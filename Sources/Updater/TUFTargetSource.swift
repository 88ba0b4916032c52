import TUF

/// Targets from the device's TUF repository: each call refreshes the metadata (TUF spec §5)
/// with a fresh client over the trusted store, so every check sees what was signed last.
public struct TUFTargetSource: TargetSource {
    private let makeClient: @Sendable () throws -> TUFClient

    /// `makeClient` builds the client, e.g. over `DirectoryStore(path: "/var/lib/otter/tuf")` and
    /// an `HTTPTransport` with the device's mTLS configuration.
    public init(makeClient: @escaping @Sendable () throws -> TUFClient) {
        self.makeClient = makeClient
    }

    public func targetFiles() async throws -> [TargetFile] {
        let client = try makeClient()
        try await client.refresh()
        return client.targets?.signed.allTargets ?? []
    }
}
