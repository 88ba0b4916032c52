import Foundation
import OSTree
import Testing
import TestSupport

@Suite struct MutualTLSPullTests {
    @Test func pullsOverMutualTLSAndIsRefusedWithoutTheClientCertificate() async throws {
        let f = try await TwoVersions(files: 3, size: 5000)
        let pki = try TestPKI(in: f.tmp.sub("pki"))
        let server = try MutualTLSServer(directory: f.server.path, pki: pki, workDir: f.tmp.sub("nginx"))
        let sysroot = f.tmp.sub("sysroot")
        try makeSysroot(at: sysroot)

        let noCert = try otter(["os", "pull", "--sysroot", sysroot, server.url, f.c1, "--tls-ca", pki.caCert])
        #expect(noCert.status == 1)
        #expect(noCert.err.contains(server.url))

        let wrongCA = try otter(["os", "pull", "--sysroot", sysroot, server.url, f.c1, "--tls-ca", pki.otherCACert,
                                 "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey])
        #expect(wrongCA.status == 1)

        let ok = try otter(["os", "pull", "--sysroot", sysroot, server.url, f.c1, "--tls-ca", pki.caCert,
                            "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey, "--verify-key", f.key.publicFile])
        #expect(ok.status == 0, "\(ok.err)")
        let remote = try await Sysroot.load(at: sysroot).repo().remote(named: "otter")
        #expect(remote.tlsClientCertPath == pki.clientCert && remote.tlsCAPath == pki.caCert)
        try sh(["ostree", "fsck", "--repo=\(sysroot)/ostree/repo"])
    }
}
