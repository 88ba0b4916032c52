import Foundation
import OSTree
import OtterCrypto
import Testing
import TestSupport

@Suite struct RepoTests {
    @Test func readsCommitsWrittenByTheOstreeCLI() async throws {
        let tmp = TempDir()
        let server = try ServerRepo(at: tmp.sub("server"))
        try makeRootfs(at: tmp.sub("r1"), version: "1")
        let c1 = try server.commit(tmp.path + "/r1", version: "1")
        try makeRootfs(at: tmp.sub("r2"), version: "2")
        let c2 = try server.commit(tmp.path + "/r2", version: "2")

        let repo = try Repo.open(at: server.path)
        #expect(repo.mode == .archive)
        #expect(try await repo.resolve("os/main") == c2)
        #expect(try await repo.resolve("no/such/ref") == nil)
        #expect(try await repo.refs() == ["os/main": c2])

        let commit = try await repo.commit(c2)
        #expect(commit.checksum == c2)
        #expect(commit.subject == "Otter test 2")
        #expect(commit.body == "body of 2")
        #expect(commit.version == "2")
        #expect(commit.parent == c1)
        #expect(!commit.isPartial)
        let cliTimestamp = try sh(["ostree", "show", "--repo=\(server.path)", c2])
        #expect(cliTimestamp.contains("Date:"))
        #expect(commit.timestamp > 1_600_000_000)
        #expect(try await repo.commit(c1).parent == nil)
    }

    @Test func missingRepoIsAClearError() throws {
        let error = #expect(throws: OSTreeError.self) { try Repo.open(at: "/nonexistent/repo") }
        #expect(error?.description.contains("/nonexistent/repo") == true)
    }

    @Test func createsReposTheCLIcanUse() async throws {
        let tmp = TempDir()
        for mode in RepoMode.allCases {
            let path = tmp.sub(mode.rawValue)
            let repo = try Repo.create(at: path, mode: mode)
            #expect(repo.mode == mode)
            let config = try sh(["ostree", "config", "--repo=\(path)", "get", "core.mode"])
            // ostree writes archive mode under its legacy name.
            let written = config.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(written == mode.rawValue || (mode == .archive && written == "archive-z2"))
        }
    }

    @Test func remotesRoundTripThroughTheRepoConfig() async throws {
        let tmp = TempDir()
        let repo = try Repo.create(at: tmp.sub("repo"), mode: .bareUser)
        let key = try Ed25519PrivateKey()
        let remote = Remote(name: "factory", url: "https://127.0.0.1:8443/ostree", tlsClientCertPath: "/var/lib/otter/certs/client.pem",
                            tlsClientKeyPath: "/var/lib/otter/certs/pkey.pem", tlsCAPath: "/var/lib/otter/certs/root.crt",
                            verificationKeys: [key.publicKey.base64])
        try await repo.addRemote(remote)
        #expect(try await repo.remoteNames() == ["factory"])
        #expect(try await repo.remote(named: "factory") == remote)
        // The ostree CLI reads the same options.
        let cli = { (option: String) in
            try sh(["ostree", "remote", "--repo=\(tmp.path)/repo", "show-url", "factory"]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try cli("url") == "https://127.0.0.1:8443/ostree")
        let cert = try sh(["ostree", "config", "--repo=\(tmp.path)/repo", "get", "remote \"factory\".tls-client-cert-path"])
        #expect(cert.contains("/var/lib/otter/certs/client.pem"))
        let gpg = try sh(["ostree", "config", "--repo=\(tmp.path)/repo", "get", "remote \"factory\".gpg-verify"])
        #expect(gpg.contains("false"))

        var changed = remote
        changed.url = "https://127.0.0.1:9443/ostree"
        try await repo.addRemote(changed)
        #expect(try await repo.remote(named: "factory").url == changed.url)
        try await repo.removeRemote(named: "factory")
        #expect(try await repo.remoteNames() == [])
    }
}
