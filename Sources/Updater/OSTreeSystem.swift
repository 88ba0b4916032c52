import FoundationEssentials
import OSTree
import OtterCrypto

/// The OS backend over the `OSTree` module: pulls signed commits into the sysroot's repo,
/// deploys them, changes the default deployment, prunes. The sysroot is loaded afresh for each
/// operation, so a reboot (real or simulated) is always seen.
public struct OSTreeSystem: OSBackend {
    public struct Configuration: Sendable {
        public var sysroot: String
        /// The OSTree repository the commits come from (plain URL until the gateway lands).
        public var remote: Remote
        /// Keys one of which must have signed every commit; checked at pull and at deploy.
        public var trustedKeys: [Ed25519PublicKey]
        /// The stateroot; nil: the booted one.
        public var osname: String?
        /// `.staged` on a booted device (finalized at shutdown); `.immediate` for image builds and
        /// test sysroots, which are not booted.
        public var deployMode: DeployMode
        public var ref: String
        /// TEST ONLY: a file that says which commit is "booted" and the boot id, standing in for
        /// libostree's `/run/ostree-booted` + `/proc/cmdline` detection on a throw-away sysroot.
        /// Written by `SimulatedBoot`; never set it on a device.
        public var simulatedBootFile: String?
        public var bootIDPath: String

        public init(sysroot: String, remote: Remote, trustedKeys: [Ed25519PublicKey], osname: String? = nil,
                    deployMode: DeployMode = .staged, ref: String = "otter/os", simulatedBootFile: String? = nil,
                    bootIDPath: String = "/proc/sys/kernel/random/boot_id") {
            self.sysroot = sysroot
            self.remote = remote
            self.trustedKeys = trustedKeys
            self.osname = osname
            self.deployMode = deployMode
            self.ref = ref
            self.simulatedBootFile = simulatedBootFile
            self.bootIDPath = bootIDPath
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    private func sysroot() async throws -> Sysroot { try await Sysroot.load(at: configuration.sysroot) }

    public func observe() async throws -> (bootedCommit: String?, bootID: String) {
        if let file = configuration.simulatedBootFile {
            let boot = try SimulatedBoot(file: file).read()
            return (boot?.commit, boot?.bootID ?? "not-booted")
        }
        let booted = try await sysroot().deployments().first(where: \.isBooted)?.checksum
        let bootID = (try? String(contentsOfFile: configuration.bootIDPath, encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).first.map(String.init) ?? "unknown"
        return (booted, bootID)
    }

    public func pull(commit: String) async throws {
        let sysroot = try await sysroot()
        let repo = try await sysroot.repo()
        if try await repo.hasObject(commit: commit), try await !repo.commit(commit).isPartial {
            _ = try await repo.verifySignature(of: commit, trustedKeys: configuration.trustedKeys)
            return
        }
        try await repo.addRemote(configuration.remote)
        let deployments = try await sysroot.deployments()
        let base = (deployments.first(where: \.isBooted) ?? deployments.first)?.checksum
        _ = try await repo.pull(PullRequest(remote: configuration.remote.name, commit: commit, ref: configuration.ref,
                                            deltaBase: base, trustedKeys: configuration.trustedKeys))
    }

    public func stage(commit: String) async throws {
        let sysroot = try await sysroot()
        if try await sysroot.deployments().first?.checksum == commit { return }
        try await sysroot.deploy(DeployRequest(commit: commit, osname: configuration.osname, mode: configuration.deployMode,
                                               trustedKeys: configuration.trustedKeys))
    }

    public func makeDefault(commit: String) async throws {
        let sysroot = try await sysroot()
        var deployments = try await sysroot.deployments()
        if deployments.contains(where: { $0.isStaged && $0.checksum != commit }) {
            try await sysroot.rollback()  // drops the staged deployment
            deployments = try await sysroot.deployments()
        }
        if deployments.first?.checksum == commit { return }
        guard let deployment = deployments.first(where: { $0.checksum == commit }) else {
            throw UpdaterError("no deployment of commit \(commit.prefix(12)) is left in \(configuration.sysroot) to roll back to (deployments: \(deployments.map { String($0.checksum.prefix(12)) })); deploy it again with `otter os deploy`")
        }
        try await sysroot.makeDefault(deployment)
    }

    public func defaultCommit() async throws -> String? {
        try await sysroot().deployments().first?.checksum
    }

    /// `Sysroot.prune` keeps exactly booted, pending, rollback (and staged, pinned); the commits
    /// the updater keeps are those two.
    public func prune(keeping: [String]) async throws {
        _ = try await sysroot().prune()
    }
}
