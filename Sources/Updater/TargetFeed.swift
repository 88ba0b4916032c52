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

    public init(trustedDirectory: String, shippedRootDirectory: String, metadataURL: String, transport: (any TUFTransport)? = nil) {
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
        return client.targets?.signed.allTargets ?? []
    }
}
