import FoundationEssentials
import OSTree

/// Publishes an OS version into the factory's archive repo: commit (or adopt) it on the
/// hardware id's branch, sign it with the factory's commit key, and generate the static delta
/// from the previous version, so devices download only what changed.
public struct OSPublisher {
    public let factory: FactoryDirectory

    public init(factory: FactoryDirectory) { self.factory = factory }

    public struct Published: Sendable, Equatable {
        public var commit: String
        public var branch: String
        public var parent: String?
        /// The delta generated (`from-to`), nil for a first version.
        public var delta: String?
    }

    /// The branch commits for a hardware id go to.
    public static func branch(for hardwareId: String) -> String { "otter/\(hardwareId)" }

    /// Commits `rootfs` as `version` for `hardwareId`.
    public func publish(rootfs: String, version: String, hardwareId: String, subject: String? = nil) async throws -> Published {
        guard (try? FileManager.default.contentsOfDirectory(atPath: rootfs)) != nil else {
            throw FactoryError("\(rootfs) is not a directory; give the root file system of the OS image")
        }
        guard FileManager.default.fileExists(atPath: rootfs + "/usr/lib/os-release")
                || FileManager.default.fileExists(atPath: rootfs + "/usr/etc/os-release") else {
            throw FactoryError("\(rootfs) has no usr/lib/os-release or usr/etc/os-release: not a deployable root file system")
        }
        let repo = try Repo.open(at: factory.ostreeRepoPath)
        let branch = Self.branch(for: hardwareId)
        let commit = try await repo.writeCommit(from: rootfs, branch: branch, subject: subject ?? "\(hardwareId) \(version)",
                                                version: version, metadata: ["otter.hardware-id": hardwareId])
        return try await finish(repo: repo, commit: commit, branch: branch)
    }

    /// Adopts a commit already in the factory repo (built elsewhere and pulled in): points
    /// the hardware id's branch at it, signs it, generates the delta from the branch's old head.
    public func publish(existingCommit rev: String, hardwareId: String) async throws -> Published {
        let repo = try Repo.open(at: factory.ostreeRepoPath)
        guard let commit = try await repo.resolve(rev) else {
            throw FactoryError("\(rev) is not in \(factory.ostreeRepoPath); pull or commit it there first")
        }
        let branch = Self.branch(for: hardwareId)
        let previous = try await repo.resolve(branch)
        try await repo.setRef(branch, to: commit)
        return try await finish(repo: repo, commit: commit, branch: branch, previous: previous)
    }

    private func finish(repo: Repo, commit: String, branch: String, previous: String?? = nil) async throws -> Published {
        let key = try CommitSignature.loadSecretKey(file: factory.ostreeSecretKeyPath)
        try await repo.sign(commit: commit, with: key)
        let parent: String?
        if let previous { parent = previous } else { parent = try await repo.commit(commit).parent }
        var delta: String?
        if let parent, parent != commit {
            try await repo.generateStaticDelta(from: parent, to: commit)
            delta = "\(parent)-\(commit)"
        }
        try await repo.regenerateSummary()
        return Published(commit: commit, branch: branch, parent: parent, delta: delta)
    }
}
