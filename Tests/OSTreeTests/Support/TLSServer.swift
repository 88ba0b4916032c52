import Foundation
import TestSupport

/// A throw-away PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1 and a
/// client certificate, plus a second CA that nobody trusts.
struct TestPKI {
    let dir: String
    var caCert: String { dir + "/ca.crt" }
    var serverCert: String { dir + "/server.crt" }
    var serverKey: String { dir + "/server.key" }
    var clientCert: String { dir + "/client.crt" }
    var clientKey: String { dir + "/client.key" }
    var otherCACert: String { dir + "/other-ca.crt" }

    init(in dir: String) throws {
        self.dir = dir
        func ca(_ name: String) throws {
            try sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).crt", "-days", "2", "-subj", "/CN=\(name)"])
        }
        func leaf(_ name: String, _ subject: String, _ ext: String) throws {
            try write(ext, to: "\(dir)/\(name).ext")
            try sh(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr", "-subj", subject])
            try sh(["openssl", "x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key",
                    "-CAcreateserial", "-out", "\(dir)/\(name).crt", "-days", "2", "-extfile", "\(dir)/\(name).ext"])
        }
        try ca("ca")
        try ca("other-ca")
        try leaf("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        try leaf("client", "/CN=device-1", "extendedKeyUsage=clientAuth\n")
    }
}

/// nginx on 127.0.0.1 serving a directory over TLS and requiring a client certificate from the
/// test CA. Stopped by the PID in its pid file.
final class MutualTLSServer: @unchecked Sendable {
    let port: Int
    let process = Process()

    init(directory: String, pki: TestPKI, workDir: String) throws {
        try FileManager.default.createDirectory(atPath: workDir + "/logs", withIntermediateDirectories: true)
        // The directories up to the served one must be readable by nginx's unprivileged workers.
        var path = directory
        while path != "/" && !path.isEmpty {
            chmod(path, 0o755)
            path = (path as NSString).deletingLastPathComponent
        }
        port = freeLoopbackPort()
        try write("""
        daemon off;
        master_process off;
        pid \(workDir)/nginx.pid;
        error_log \(workDir)/logs/error.log;
        events { worker_connections 64; }
        http {
          access_log \(workDir)/logs/access.log;
          server {
            listen 127.0.0.1:\(port) ssl;
            ssl_certificate \(pki.serverCert);
            ssl_certificate_key \(pki.serverKey);
            ssl_client_certificate \(pki.caCert);
            ssl_verify_client on;
            root \(directory);
          }
        }
        """, to: workDir + "/nginx.conf")
        // In the foreground, so that this process owns its PID and stops it.
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-c", workDir + "/nginx.conf", "-p", workDir]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until it accepts connections.
        for _ in 0..<100 {
            if (try? sh(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"], allowFailure: false)) != nil { break }
            usleep(50_000)
        }
    }

    var url: String { "https://127.0.0.1:\(port)" }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
