/// A commit as read from a repository: what `otter os status` and the updater show.
public struct Commit: Sendable, Equatable, Codable {
    public let checksum: String
    public let subject: String
    public let body: String
    /// `version` from the commit metadata, when the builder set it.
    public let version: String?
    /// Seconds since the epoch (UTC), as stored in the commit.
    public let timestamp: UInt64
    public let parent: String?
    /// String-valued commit metadata (`version`, `ostree.ref-binding`…).
    public let metadata: [String: String]
    /// Keys present in the detached metadata (`ostree.sign.ed25519`, `ostree.gpgsigs`…).
    public let detachedMetadataKeys: [String]
    /// True when only the commit object is local (a commit-only pull, or an interrupted one).
    public let isPartial: Bool
}
