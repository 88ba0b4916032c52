import Foundation
import Testing

/// A throw-away HTTP(S) server on 127.0.0.1: python3's http.server with the behaviours the
/// tests need, selected by path. It counts the connections that served at least one request
/// and records each request per key (`?key=`, default the path), read back through `/_stats`.
final class TestServer: @unchecked Sendable {
    struct TLSFiles {
        var certificate: String
        var key: String
        /// CA that client certificates must chain to.
        var clientCA: String
    }

    struct Stats: Decodable {
        var connections: Int
        var requests: [String: Int]
        var ranges: [String: [String?]]
        var methods: [String: [String]]

        func requests(_ key: String) -> Int { requests[key] ?? 0 }
        func ranges(_ key: String) -> [String?] { ranges[key] ?? [] }
    }

    let port: Int
    let scheme: String
    private let process: Process

    init(tls: TLSFiles? = nil) throws {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("otter-http-test-server-\(UUID()).py")
        try Self.script.write(to: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        var arguments = [script.path]
        if let tls { arguments += ["--cert", tls.certificate, "--key", tls.key, "--client-ca", tls.clientCA] }
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = Pipe()
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // The script prints its port once it listens.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        try? FileManager.default.removeItem(at: script)
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw ServerError.didNotStart
        }
        self.port = port
        scheme = tls == nil ? "http" : "https"
    }

    enum ServerError: Error { case didNotStart }

    deinit {
        stop()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    func url(_ pathAndQuery: String) -> String {
        "\(scheme)://127.0.0.1:\(port)\(pathAndQuery)"
    }

    /// Read with a client of its own (its own connection); the server leaves `/_stats` requests
    /// out of every count.
    func stats(tls: (ca: String, cert: String, key: String)? = nil) async throws -> Stats {
        var configuration = HTTPTestSupport.plainConfiguration
        if let tls {
            configuration.tls.caBundlePath = tls.ca
            configuration.tls.clientCertificatePath = tls.cert
            configuration.tls.clientKeyPath = tls.key
        }
        let client = HTTPTestSupport.client(configuration)
        let response = try await client.get(url("/_stats"))
        return try JSONDecoder().decode(Stats.self, from: Data(response.body))
    }

    static let script = #"""
import argparse, json, os, signal, socket, ssl, sys, threading, time
# The test process may spawn us with signals blocked; terminate() must work.
signal.pthread_sigmask(signal.SIG_SETMASK, [])
signal.signal(signal.SIGTERM, signal.SIG_DFL)

def exit_with_parent():
    # stdin is a pipe from the test process: EOF means it is gone, whatever way it ended.
    sys.stdin.buffer.read()
    os._exit(0)

threading.Thread(target=exit_with_parent, daemon=True).start()
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

lock = threading.Lock()
stats = {"connections": 0, "requests": {}, "ranges": {}, "methods": {}}
PATTERN = bytes(range(251)) * 4096

def content(n):
    out = bytearray()
    while len(out) < n:
        out += PATTERN[: n - len(out)]
    return bytes(out)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.counted = False
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                # Lingering close, as nginx does: read what the client already sent (its
                # request, right after its half of the TLS 1.3 handshake), so that closing does
                # not reset the connection before the client has read the refusal alert.
                self.request.settimeout(1)
                try:
                    while socket.socket.recv(self.request, 65536):
                        pass
                except OSError:
                    pass
                raise
        super().setup()

    def log_message(self, *args):
        pass

    def do_GET(self): self.dispatch()
    def do_HEAD(self): self.dispatch()
    def do_POST(self): self.dispatch()
    def do_PUT(self): self.dispatch()
    def do_DELETE(self): self.dispatch()

    def send_bytes(self, status, data, headers=()):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def dispatch(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        key = q.get("key", path)
        length = int(self.headers.get("Content-Length", "0") or "0")
        data = self.rfile.read(length) if length else b""
        if path == "/_stats":
            with lock:
                body = json.dumps(stats).encode()
            return self.send_bytes(200, body, [("Content-Type", "application/json")])
        with lock:
            if not self.counted:
                stats["connections"] += 1
                self.counted = True
            count = stats["requests"].get(key, 0) + 1
            stats["requests"][key] = count
            stats["ranges"].setdefault(key, []).append(self.headers.get("Range"))
            stats["methods"].setdefault(key, []).append(self.command)
        n = int(q.get("n", "0"))
        if path == "/bytes":
            return self.serve(content(n), honour_range=q.get("norange") != "1")
        if path == "/die":
            # The first request breaks after `after` bytes; later ones are served whole.
            if count == 1:
                return self.serve(content(n), cut_after=int(q["after"]))
            return self.serve(content(n))
        if path == "/stall":
            return self.serve(content(n), stall_after=int(q["after"]), stall_seconds=float(q.get("sleep", "30")))
        if path == "/fail":
            if count <= int(q["times"]):
                headers = [("Retry-After", q["retry_after"])] if "retry_after" in q else []
                return self.send_bytes(int(q["status"]), b"try again", headers)
            return self.serve(content(n))
        if path == "/status":
            return self.send_bytes(int(q["code"]), ("status " + q["code"]).encode())
        if path == "/echo":
            return self.send_bytes(200, data, [("X-Method", self.command),
                                               ("X-Content-Type", self.headers.get("Content-Type", ""))])
        if path == "/headers":
            return self.send_bytes(200, b"ok", [("Set-Cookie", "a=1"), ("set-cookie", "b=2"),
                                                ("X-Echo", self.headers.get("X-Test", ""))])
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", q["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                self.close_connection = True
            return
        self.send_bytes(404, b"no such test path")

    def serve(self, body, honour_range=True, cut_after=None, stall_after=None, stall_seconds=0):
        total = len(body)
        start = 0
        wanted = self.headers.get("Range")
        if wanted and honour_range and wanted.startswith("bytes="):
            first, _, last = wanted[6:].partition("-")
            start = int(first)
            if start >= total:
                return self.send_bytes(416, b"", [("Content-Range", "bytes */%d" % total)])
            end = int(last) if last else total - 1
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, total))
            body = body[start:end + 1]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if cut_after is not None:
                self.wfile.write(body[:cut_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if stall_after is not None:
                self.wfile.write(body[:stall_after])
                self.wfile.flush()
                time.sleep(stall_seconds)
                self.close_connection = True
                return
            for offset in range(0, len(body), 65536):
                self.wfile.write(body[offset:offset + 65536])
        except OSError:
            self.close_connection = True

class Server(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass  # failed TLS handshakes and clients that hang up are part of the tests

parser = argparse.ArgumentParser()
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--client-ca")
args = parser.parse_args()
server = Server(("127.0.0.1", 0), Handler)
if args.cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(args.client_ca)
    # Handshake in the connection's thread, so a bad client cannot block the accept loop.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
print(server.server_address[1], flush=True)
server.serve_forever()
"""#
}
