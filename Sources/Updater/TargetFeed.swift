import FoundationEssentials
import HTTP
import TUF

/// Where the device's Targets come from: TUF metadata refreshed per the client workflow (§5)
/// into the trusted directory, seeded on first use with the root shipped in the image.
public struct TargetFeed: Sendable {
    /// `/var/lib/otter/tuf`: the trusted metadata, replaced only by verified files.
    public var trustedDirectory: String
    /// `/usr/lib/otter/tuf`: holds `root.json` (or `1.root.json`) from the image.
    public var shippedRootDirectory: String
    /// The directory holding `timestamp.json`: `https://…/repo/` or `file:///media/usb/tuf/`.
    public var metadataURL: String
    public var transport: any TUFTransport
    /// Whether this is a production device (its certificate carries businessCategory=production):
    /// it then accepts only production metadata, whose root requires at least two signatures on
    /// targets (the factory's online key and an operator's offline key); a test device accepts
    /// only metadata whose targets threshold is 1. nil: no check (no gateway identity).
    public var production: Bool?

    public init(trustedDirectory: String, shippedRootDirectory: String, metadataURL: String, transport: (any TUFTransport)? = nil,
                production: Bool? = nil) {
        self.production = production
        self.trustedDirectory = trustedDirectory
        self.shippedRootDirectory = shippedRootDirectory
        self.metadataURL = metadataURL.hasSuffix("/") ? metadataURL : metadataURL + "/"
        self.transport = transport ?? (metadataURL.hasPrefix("file://") ? FileTransport() : HTTPTransport())
    }

    /// Refreshes and returns every Target of the verified top-level targets role.
    public func refresh() async throws(TUFError) -> [TargetFile] {
        let store = try DirectoryStore.creating(path: trustedDirectory)
        if store.read("root.json") == nil {
            let shipped = DirectoryStore(path: shippedRootDirectory)
            guard let root = shipped.read("root.json") ?? shipped.read("1.root.json") else {
                throw TUFError(.storage, "no trusted root: neither \(trustedDirectory)/root.json nor \(shippedRootDirectory)/root.json exists; the image (or `otter register`) must provide the initial root")
            }
            try store.write("root.json", root)
        }
        let client = TUFClient(configuration: TUFClientConfiguration(metadataBaseURL: metadataURL), transport: transport, store: store)
        try await client.refresh()
        if let production, let root = client.root {
            let threshold = root.signed.roles["targets"]?.threshold ?? 1
            guard (threshold >= 2) == production else {
                throw TUFError(.unsignedThreshold, production
                    ? "this production device refuses the repository: its root lets targets be signed by \(threshold) key, production metadata needs the online and an offline key (threshold ≥ 2); the gateway served test (CI) metadata"
                    : "this test device refuses the repository: its root requires \(threshold) targets signatures, which marks production metadata; test devices follow the CI repository")
            }
        }
        return client.targets?.signed.allTargets ?? []
    }
}
