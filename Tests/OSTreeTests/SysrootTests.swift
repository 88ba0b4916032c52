import Foundation
import OSTree
import OtterCrypto
import Testing
import TestSupport

/// A test sysroot with v1 and v2 pulled into its repo from a loopback server.
struct SysrootFixture {
    let versions: TwoVersions
    let sysroot: String
    let server: FileServer

    init() async throws {
        versions = try await TwoVersions(files: 3, size: 2000)
        sysroot = versions.tmp.sub("sysroot")
        try makeSysroot(at: sysroot)
        server = try FileServer(directory: versions.server.path)
        let repo = try await Sysroot.load(at: sysroot).repo()
        try await repo.addRemote(Remote(name: "otter", url: server.url))
        for c in [versions.c1, versions.c2] {
            _ = try await repo.pull(PullRequest(remote: "otter", commit: c, trustedKeys: [versions.key.key.publicKey]))
        }
    }

    var keys: [Ed25519PublicKey] { [versions.key.key.publicKey] }

    /// `ostree admin status` of the sysroot, the independent view.
    func cliStatus() throws -> String { try sh(["ostree", "admin", "status", "--sysroot=\(sysroot)"]) }
}

@Suite struct SysrootTests {
    @Test func twoDeploymentsThenRollbackAsTheCLIseesThem() async throws {
        let f = try await SysrootFixture()
        let sysroot = try await Sysroot.load(at: f.sysroot)
        let d1 = try await sysroot.deploy(DeployRequest(commit: f.versions.c1, trustedKeys: f.keys, kernelArguments: ["quiet", "otter.test=1"]))
        #expect(d1.osname == "otter")
        #expect(d1.version == "1")
        let d2 = try await sysroot.deploy(DeployRequest(commit: f.versions.c2, trustedKeys: f.keys))
        var list = try await sysroot.deployments()
        #expect(list.map(\.checksum) == [f.versions.c2, f.versions.c1])
        #expect(list[1].isRollback && !list[0].isRollback)
        // Kernel arguments carried over from the previous deployment.
        #expect(list[0].kernelArguments?.contains("otter.test=1") == true)
        #expect(FileManager.default.fileExists(atPath: d2.path + "/usr/etc/os-release"))
        let before = try f.cliStatus()
        #expect(before.range(of: f.versions.c2)!.lowerBound < before.range(of: f.versions.c1)!.lowerBound)

        let next = try await sysroot.rollback()
        #expect(next.checksum == f.versions.c1)
        list = try await sysroot.deployments()
        #expect(list.map(\.checksum) == [f.versions.c1, f.versions.c2])
        let after = try f.cliStatus()
        #expect(after.range(of: f.versions.c1)!.lowerBound < after.range(of: f.versions.c2)!.lowerBound)
        // The bootloader entries follow: the first BLS entry is v1's.
        let entries = try FileManager.default.contentsOfDirectory(atPath: f.sysroot + "/boot/loader/entries").sorted()
        let top = try String(contentsOfFile: f.sysroot + "/boot/loader/entries/" + entries.last!, encoding: .utf8)
        #expect(top.contains("otter.test=1"))
    }

    @Test func unsignedOrUntrustedCommitIsNeverDeployed() async throws {
        let f = try await SysrootFixture()
        try makeRootfs(at: f.versions.tmp.sub("r3"), version: "3")
        let c3 = try f.versions.server.commit(f.versions.tmp.path + "/r3", version: "3")
        let repo = try await Sysroot.load(at: f.sysroot).repo()
        _ = try await repo.pull(PullRequest(remote: "otter", commit: c3))  // no keys: pulled, unsigned
        let sysroot = try await Sysroot.load(at: f.sysroot)
        let unsigned = await #expect(throws: OSTreeError.self) {
            try await sysroot.deploy(DeployRequest(commit: c3, trustedKeys: f.keys))
        }
        #expect(unsigned?.message.contains("not signed") == true)
        #expect(unsigned?.message.contains("nothing was deployed") == true)
        let stranger = try Ed25519PrivateKey()
        await #expect(throws: OSTreeError.self) {
            try await sysroot.deploy(DeployRequest(commit: f.versions.c1, trustedKeys: [stranger.publicKey]))
        }
        #expect(try await sysroot.deployments().isEmpty)
        #expect(try f.cliStatus().contains("No deployments"))
    }

    @Test func stagedDeploymentIsFinalizedAtShutdown() async throws {
        let f = try await SysrootFixture()
        let sysroot = try await Sysroot.load(at: f.sysroot)
        let d1 = try await sysroot.deploy(DeployRequest(commit: f.versions.c1, trustedKeys: f.keys))
        // Not booted: staging is refused with a next step.
        let refused = await #expect(throws: OSTreeError.self) {
            try await sysroot.deploy(DeployRequest(commit: f.versions.c2, mode: .staged, trustedKeys: f.keys))
        }
        #expect(refused?.message.contains("drop --stage") == true)

        // One boot of v1 (a private namespace; /run lives as long as it does): `otter os deploy
        // --stage` stages v2, status shows it staged, and ostree-finalize-staged's job at
        // shutdown writes it ahead of v1.
        let key = "/host" + f.versions.key.publicFile
        let otterInside = "/host" + otterBinary
        let session = try runBooted(sysroot: f.sysroot, deployment: d1.path, ["sh", "-c", """
            set -e
            \(otterInside) os deploy \(f.versions.c2) --stage --verify-key \(key) --json > /dev/null
            \(otterInside) os status --json
            ostree admin finalize-staged > /dev/null
            """])
        #expect(session.contains("\"isStaged\" : true"))
        #expect(session.contains("\"isBooted\" : true"))
        let list = try await Sysroot.load(at: f.sysroot).deployments()
        #expect(list.map(\.checksum) == [f.versions.c2, f.versions.c1])
        #expect(list.allSatisfy { !$0.isStaged })

        // After "rebooting" into v2, `otter os rollback` makes v1 boot next again.
        let rolled = try runBooted(sysroot: f.sysroot, deployment: list[0].path, ["/host" + otterBinary, "os", "rollback", "--json"])
        #expect(rolled.contains(f.versions.c1))
        #expect(try await Sysroot.load(at: f.sysroot).deployments().first?.checksum == f.versions.c1)
    }

    @Test func pruneKeepsDefaultAndRollbackAndPinned() async throws {
        let f = try await SysrootFixture()
        let sysroot = try await Sysroot.load(at: f.sysroot)
        let d1 = try await sysroot.deploy(DeployRequest(commit: f.versions.c1, trustedKeys: f.keys))
        try await sysroot.setPinned(d1, true)
        _ = try await sysroot.deploy(DeployRequest(commit: f.versions.c2, trustedKeys: f.keys))
        _ = try await sysroot.deploy(DeployRequest(commit: f.versions.c1, trustedKeys: f.keys))
        _ = try await sysroot.deploy(DeployRequest(commit: f.versions.c2, trustedKeys: f.keys))
        #expect(try await sysroot.deployments().count >= 3)
        let result = try await sysroot.prune()
        let kept = try await sysroot.deployments()
        #expect(kept.count == 3, "default, rollback and the pinned one: \(kept.map(\.name)), removed \(result.removedDeployments)")
        #expect(kept.contains { $0.isPinned && $0.checksum == f.versions.c1 })
        #expect(kept[0].checksum == f.versions.c2)
        try sh(["ostree", "fsck", "--repo=\(f.sysroot)/ostree/repo"])
        // Undeploy removes one, never leaving the CLI confused.
        try await sysroot.undeploy(kept[1])
        #expect(try await sysroot.deployments().count == 2)
    }

    @Test func badSysrootPathIsAClearError() async throws {
        let tmp = TempDir()
        for path in ["/nonexistent/sysroot", tmp.path] {
            let error = await #expect(throws: OSTreeError.self) { try await Sysroot.load(at: path) }
            #expect(error?.description.contains(path) == true)
            let cli = try otter(["os", "status", "--sysroot", path])
            #expect(cli.status == 1)
            #expect(cli.err.contains("--sysroot"))
            #expect(cli.out.isEmpty)
        }
    }
}
