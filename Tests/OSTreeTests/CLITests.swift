import Foundation
import OSTree
import Testing
import TestSupport

@Suite struct CLITests {
    @Test func signAndVerifyExitCodesFollowTheSignature() async throws {
        let f = try await TwoVersions(files: 2, size: 100, signed: false)
        try sh([otterBinary, "os", "keygen", "--out", f.tmp.path + "/cli"])
        let sign = try otter(["os", "sign", f.c1, "--key", f.tmp.path + "/cli.sec", "--repo", f.server.path, "--json"])
        #expect(sign.status == 0, "\(sign.err)")
        let signed = try JSONSerialization.jsonObject(with: Data(sign.out.utf8)) as? [String: String]
        #expect(signed?["commit"] == f.c1)
        #expect(try otter(["os", "verify", f.c1, "--key", f.tmp.path + "/cli.pub", "--repo", f.server.path]).status == 0)
        let wrong = try otter(["os", "verify", f.c1, "--key", f.key.publicFile, "--repo", f.server.path])
        #expect(wrong.status == 1)
        #expect(wrong.err.contains("not signed by any trusted key"))
        let unsigned = try otter(["os", "verify", f.c2, "--key", f.tmp.path + "/cli.pub", "--repo", f.server.path])
        #expect(unsigned.status == 1)
        #expect(unsigned.err.contains("is not signed"))
        // keygen never overwrites a key.
        #expect(try otter(["os", "keygen", "--out", f.tmp.path + "/cli"]).status == 1)
    }

    @Test func pullPrintsProgressLinesAndJSON() async throws {
        let f = try await TwoVersions(files: 10, size: 20_000)
        let http = try FileServer(directory: f.server.path)
        let sysroot = f.tmp.sub("sysroot")
        try makeSysroot(at: sysroot)
        let pull = try otter(["os", "pull", "--sysroot", sysroot, http.url, f.c1, "--verify-key", f.key.publicFile, "--json"])
        #expect(pull.status == 0, "\(pull.err)")
        let result = try JSONSerialization.jsonObject(with: Data(pull.out.utf8)) as? [String: Any]
        #expect(result?["commit"] as? String == f.c1)
        #expect(result?["verifiedBy"] as? String == f.key.key.publicKey.base64)

        // Not a terminal: one plain progress line at a time on stderr, the summary on stdout.
        let again = try otter(["os", "pull", "--sysroot", sysroot, http.url, f.c2, "--verify-key", f.key.publicFile])
        #expect(again.status == 0, "\(again.err)")
        #expect(again.err.contains("pull: "))
        #expect(!again.err.contains("\r"))
        #expect(again.out.hasPrefix("pulled \(f.c2)"))

        // No trusted key: deploy refuses and says how to fix it.
        let deploy = try otter(["os", "deploy", "--sysroot", sysroot, f.c1])
        #expect(deploy.status == 1)
        #expect(deploy.err.contains("--verify-key"))
        #expect(try otter(["os", "deploy", "--sysroot", sysroot, f.c1, "--verify-key", f.key.publicFile]).status == 0)
        let status = try otter(["os", "status", "--sysroot", sysroot, "--json"])
        #expect(status.out.contains(f.c1))
    }

    @Test func pullDrawsABarOnATerminal() async throws {
        let f = try await TwoVersions(files: 10, size: 20_000)
        let http = try FileServer(directory: f.server.path, rate: 400_000)
        let sysroot = f.tmp.sub("sysroot")
        try makeSysroot(at: sysroot)
        // `script` gives the command a pseudo-terminal, as a person at a console has.
        let command = "\(otterBinary) os pull --sysroot \(sysroot) \(http.url) \(f.c1)"
        let shown = try sh(["script", "-qec", command, "/dev/null"])
        #expect(shown.contains("\r\u{1B}[K["), "a redrawn bar")
        #expect(shown.contains("#"))
        #expect(shown.contains("pulled \(f.c1)"))
    }

    @Test func usageErrorsAreCaughtBeforeAnyWork() throws {
        let bad = try otter(["os", "pull", "http://127.0.0.1:1", "v2"])
        #expect(bad.status == 64)
        #expect(bad.err.contains("64-character"))
        let scheme = try otter(["os", "pull", "ftp://x", String(repeating: "a", count: 64)])
        #expect(scheme.status == 64)
        let help = try otter(["os", "deploy", "--help"])
        #expect(help.out.contains("--stage"))
        #expect(help.out.contains("trusted"))
    }
}
