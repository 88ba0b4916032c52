import COSTree
import FoundationEssentials
import OtterCrypto

/// How a new deployment is written.
public enum DeployMode: String, Sendable, Codable {
    /// Staged in /run/ostree; ostree-finalize-staged.service writes it at shutdown, so the running
    /// system's /etc changes up to the reboot are carried over. Needs a booted OSTree system.
    case staged
    /// Written now and made the default (image builders, tests, and systems without the unit).
    case immediate
}

public struct DeployRequest: Sendable {
    public var commit: String
    /// The stateroot; nil uses the booted one, else the first deployment's, else "otter".
    public var osname: String?
    public var mode: DeployMode
    /// Keys one of which must have signed the commit. Deploying never happens without a check.
    public var trustedKeys: [Ed25519PublicKey]
    /// Replaces the kernel arguments; nil carries over those of the merge deployment.
    public var kernelArguments: [String]?
    /// Written to the deployment's origin file (`refspec`); nil uses the commit checksum.
    public var originRefspec: String?

    public init(commit: String, osname: String? = nil, mode: DeployMode = .immediate,
                trustedKeys: [Ed25519PublicKey], kernelArguments: [String]? = nil, originRefspec: String? = nil) {
        self.commit = commit
        self.osname = osname
        self.mode = mode
        self.trustedKeys = trustedKeys
        self.kernelArguments = kernelArguments
        self.originRefspec = originRefspec
    }
}

public struct PruneResult: Sendable, Equatable, Codable {
    public var removedDeployments: [String]
    public var objectsPruned: Int
    public var bytesFreed: UInt64
}

extension Sysroot {
    /// Deploys a commit of the sysroot's repo. The commit must be complete and signed by one of
    /// the trusted keys; otherwise nothing is written.
    @discardableResult
    public func deploy(_ request: DeployRequest) async throws -> Deployment {
        try await queue.run {
            let context = "deploying commit \(request.commit) in \(self.path)"
            let repo = try self.repoNow()
            let commit: Commit
            do { commit = try repo.commitNow(request.commit) } catch let error as OSTreeError {
                throw OSTreeError(message: "\(error.message); pull it first (`otter os pull URL COMMIT`)", context: context)
            }
            guard !commit.isPartial else {
                throw OSTreeError(message: "commit \(commit.checksum) is only partially pulled; pull it again to complete it; nothing was deployed",
                                  context: context)
            }
            do { _ = try repo.verifySignatureNow(of: commit.checksum, trustedKeys: request.trustedKeys) } catch let error as OSTreeError {
                throw OSTreeError(message: "\(error.message); nothing was deployed", context: context)
            }
            if request.mode == .staged && !ostree_sysroot_is_booted(self.pointer).isTrue {
                throw OSTreeError(message: "staging needs a booted OSTree system, and \(self.path) is not booted; deploy immediately instead (drop --stage)",
                                  context: context)
            }
            let osname = try self.osnameNow(request.osname)
            return try self.locked("deploying \(commit.checksum)") {
                if !FileManager.default.fileExists(atPath: "\(self.path)/ostree/deploy/\(osname)") {
                    try gcall("creating stateroot \(osname) in \(self.path)") {
                        ostree_sysroot_init_osname(self.pointer, osname, nil, $0).isTrue
                    }
                }
                let merge = ostree_sysroot_get_merge_deployment(self.pointer, osname)
                defer { if let merge { costree_object_unref(UnsafeMutableRawPointer(merge)) } }
                let origin = ostree_sysroot_origin_new_from_refspec(self.pointer, request.originRefspec ?? commit.checksum)
                defer { g_key_file_unref(origin) }
                var opts = OstreeSysrootDeployTreeOpts()
                var created: OpaquePointer? = nil
                let deploy: (UnsafeMutablePointer<UnsafeMutablePointer<GError>?>) -> Bool = { error in
                    switch request.mode {
                    case .immediate:
                        ostree_sysroot_deploy_tree_with_options(self.pointer, osname, commit.checksum, origin, merge,
                                                                &opts, &created, nil, error).isTrue
                    case .staged:
                        ostree_sysroot_stage_tree_with_options(self.pointer, osname, commit.checksum, origin, merge,
                                                               &opts, &created, nil, error).isTrue
                    }
                }
                if let kargs = request.kernelArguments {
                    try withCStringArray(kargs) { argv in
                        opts.override_kernel_argv = argv
                        try gcall(context, deploy)
                        opts.override_kernel_argv = nil
                    }
                } else {
                    try gcall(context, deploy)
                }
                guard let created else { throw OSTreeError(message: "libostree returned no deployment", context: context) }
                defer { costree_object_unref(UnsafeMutableRawPointer(created)) }
                if request.mode == .immediate {
                    // Keeps the booted and the merge deployment; older ones are cleaned up.
                    try gcall("writing the new deployment list of \(self.path)") {
                        ostree_sysroot_simple_write_deployment(self.pointer, osname, created, merge,
                                                               OSTREE_SYSROOT_SIMPLE_WRITE_DEPLOYMENT_FLAGS_NONE, nil, $0).isTrue
                    }
                }
                let csum = String(cString: ostree_deployment_get_csum(created))
                let serial = Int(ostree_deployment_get_deployserial(created))
                try self.reloadNow()
                guard let made = try self.deploymentsNow().first(where: { $0.checksum == csum && $0.serial == serial && $0.osname == osname }) else {
                    throw OSTreeError(message: "the new deployment is missing after writing it", context: context)
                }
                return made
            }
        }
    }

    func osnameNow(_ requested: String?) throws -> String {
        if let requested { return requested }
        if let booted = ostree_sysroot_get_booted_deployment(pointer) { return String(cString: ostree_deployment_get_osname(booted)) }
        if let first = handlesNow().first { return String(cString: ostree_deployment_get_osname(first)) }
        return "otter"
    }

    /// Makes the previous deployment the default, as `rpm-ostree rollback` does: a staged
    /// deployment is dropped; a pending one gives way to the booted one; otherwise the rollback
    /// deployment moves to the top. Returns the deployment that now boots next.
    @discardableResult
    public func rollback() async throws -> Deployment {
        try await queue.run {
            let context = "rolling back in \(self.path)"
            let list = try self.deploymentsNow()
            let target: Deployment
            if let staged = list.first(where: \.isStaged) {
                try self.locked("dropping the staged deployment") {
                    let keep = try list.filter { $0 != staged }.map { try self.handleNow(for: $0) }
                    try self.writeDeploymentsNow(keep, context: context)
                }
                guard let next = try self.deploymentsNow().first else {
                    throw OSTreeError(message: "no deployment is left after dropping the staged one", context: context)
                }
                return next
            }
            if list.contains(where: \.isPending), let booted = list.first(where: \.isBooted) {
                target = booted
            } else if let rollback = list.first(where: \.isRollback) {
                target = rollback
            } else {
                throw OSTreeError(message: "there is no previous deployment to roll back to (\(list.count) deployment(s))", context: context)
            }
            try self.makeDefaultNow(target, context: context)
            return try self.deploymentsNow()[0]
        }
    }

    /// Moves `deployment` to the top of the boot order.
    public func makeDefault(_ deployment: Deployment) async throws {
        try await queue.run { try self.makeDefaultNow(deployment, context: "making \(deployment.name) the default in \(self.path)") }
    }

    func makeDefaultNow(_ deployment: Deployment, context: String) throws {
        try locked("changing the default deployment") {
            let handles = handlesNow()
            let top = try handleNow(for: deployment)
            try writeDeploymentsNow([top] + handles.filter { $0 != top }, context: context)
        }
    }

    /// Removes a deployment (never the booted one).
    public func undeploy(_ deployment: Deployment) async throws {
        try await queue.run {
            let context = "undeploying \(deployment.name) from \(self.path)"
            guard !deployment.isBooted else {
                throw OSTreeError(message: "the booted deployment cannot be removed", context: context)
            }
            try self.locked("undeploying \(deployment.name)") {
                let drop = try self.handleNow(for: deployment)
                try self.writeDeploymentsNow(self.handlesNow().filter { $0 != drop }, context: context)
            }
        }
    }

    /// Pins a deployment so that neither prune nor new deployments remove it.
    public func setPinned(_ deployment: Deployment, _ pinned: Bool) async throws {
        try await queue.run {
            try self.locked("pinning \(deployment.name)") {
                let handle = try self.handleNow(for: deployment)
                try gcall("\(pinned ? "pinning" : "unpinning") \(deployment.name) in \(self.path)") {
                    ostree_sysroot_deployment_set_pinned(self.pointer, handle, pinned.gboolean, $0).isTrue
                }
            }
        }
    }

    /// Keeps exactly the booted, pending, rollback, staged and pinned deployments (without a
    /// booted one: the default and the rollback), removes the rest, cleans /boot, and prunes
    /// repo objects that no ref or deployment reaches.
    public func prune() async throws -> PruneResult {
        try await queue.run {
            let context = "pruning \(self.path)"
            let list = try self.deploymentsNow()
            let keep = list.filter { $0.isBooted || $0.isPending || $0.isRollback || $0.isStaged || $0.isPinned || $0.index == 0 }
            let removed = list.filter { !keep.contains($0) }
            return try self.locked("pruning") {
                if !removed.isEmpty {
                    try self.writeDeploymentsNow(try keep.map { try self.handleNow(for: $0) }, context: context)
                }
                try gcall("cleaning up \(self.path)") { ostree_sysroot_prepare_cleanup(self.pointer, nil, $0).isTrue }
                let reachable = g_hash_table_new_full(ostree_hash_object_name, g_variant_equal,
                                                      { g_variant_unref(OpaquePointer($0)) }, nil)
                defer { g_hash_table_unref(reachable) }
                var options = OstreeRepoPruneOptions()
                options.flags = OSTREE_REPO_PRUNE_FLAGS_REFS_ONLY
                options.reachable = reachable
                var total: Int32 = 0
                var pruned: Int32 = 0
                var freed: guint64 = 0
                try gcall("pruning the repo of \(self.path)") {
                    ostree_sysroot_cleanup_prune_repo(self.pointer, &options, &total, &pruned, &freed, nil, $0).isTrue
                }
                return PruneResult(removedDeployments: removed.map(\.name), objectsPruned: Int(pruned), bytesFreed: UInt64(freed))
            }
        }
    }
}
