import Foundation
import HTTP
import Testing

/// The client over a unix-domain socket (how the Docker Engine API is reached), against a
/// python HTTP server listening on one; and request bodies streamed from a pipe.
@Suite struct UnixSocketTests {
    /// GET /ping answers "pong"; POST /upload reads the body (chunked or with a length) and
    /// answers `<bytes> <ok|corrupt> <chunked|length>`: ok when every byte is the pattern
    /// `i % 251`.
    static let script = #"""
import os, socket, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
path = sys.argv[1]
PATTERN = bytes(range(251)) * 1100

class Server(ThreadingHTTPServer):
    address_family = socket.AF_UNIX
    def server_bind(self):
        self.socket.bind(path)
    def get_request(self):
        request, _ = self.socket.accept()
        return request, ("local", 0)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def reply(self, text):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.reply("pong " + self.headers.get("Host", ""))
    def do_POST(self):
        total, ok, offset = 0, True, 0
        def check(chunk):
            nonlocal total, ok, offset
            for start in range(0, len(chunk), 1 << 18):
                piece = chunk[start:start + (1 << 18)]
                begin = offset % 251
                ok = ok and piece == PATTERN[begin:begin + len(piece)]
                offset += len(piece)
            total += len(chunk)
        chunked = self.headers.get("Transfer-Encoding", "") == "chunked"
        if chunked:
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data = self.rfile.read(size)
                check(data)
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length", "0"))
            while remaining > 0:
                data = self.rfile.read(min(remaining, 1 << 16))
                check(data)
                remaining -= len(data)
        self.reply(f"{total} {'ok' if ok else 'corrupt'} {'chunked' if chunked else 'length'}")

threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
server = Server(path, Handler, bind_and_activate=False)
server.server_bind()
server.server_activate()
print("ready", flush=True)
server.serve_forever()
"""#

    final class SocketServer {
        let process = Process()
        let directory: String
        var socketPath: String { directory + "/api.sock" }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-unix-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try UnixSocketTests.script.write(toFile: directory + "/server.py", atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [directory + "/server.py", directory + "/api.sock"]
            let output = Pipe()
            process.standardOutput = output
            process.standardInput = Pipe()
            try process.run()
            _ = output.fileHandleForReading.availableData  // "ready"
        }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func client(_ socket: String) -> HTTPClient {
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.unixSocketPath = socket
        return HTTPClient(configuration: configuration)
    }

    @Test func getsOverAUnixSocket() async throws {
        let server = try SocketServer()
        let response = try await Self.client(server.socketPath).get("http://localhost/ping")
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "pong localhost")
    }

    @Test func proxyFromTheEnvironmentDoesNotApplyToASocket() async throws {
        let server = try SocketServer()
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.unixSocketPath = server.socketPath
        configuration.proxy = .url("http://127.0.0.1:\(HTTPTestSupport.closedPort())")
        let response = try await HTTPClient(configuration: configuration).get("http://localhost/ping")
        #expect(response.status == 200)
    }

    @Test func missingSocketFailsToConnect() async throws {
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.unixSocketPath = "/nonexistent/otter-test.sock"
        configuration.retry = .none
        let error = try await #require(throws: HTTPError.self) {
            try await HTTPClient(configuration: configuration).get("http://localhost/ping")
        }
        #expect(error.kind == .couldNotConnect)
    }

    /// 256 MiB from a pipe fed by another thread: sent chunked, arriving intact, without the
    /// body ever being in memory (the writer produces it 64 KiB at a time).
    @Test func largeBodyStreamsFromAPipe() async throws {
        let server = try SocketServer()
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        let total = 256 << 20
        let writeEnd = fds[1]
        let writer = Thread {
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            var offset = 0
            while offset < total {
                for i in 0..<chunk.count { chunk[i] = UInt8((offset + i) % 251) }
                var done = 0
                while done < chunk.count {
                    let n = chunk.withUnsafeBytes { write(writeEnd, $0.baseAddress! + done, chunk.count - done) }
                    if n <= 0 { close(writeEnd); return }
                    done += n
                }
                offset += chunk.count
            }
            close(writeEnd)
        }
        writer.start()
        let response = try await Self.client(server.socketPath).send(
            HTTPRequest(method: .post, url: "http://localhost/upload", body: .stream(fileDescriptor: fds[0])))
        close(fds[0])
        #expect(String(decoding: response.body, as: UTF8.self) == "\(total) ok chunked")
    }

    @Test func fileBodyIsSentWithItsLength() async throws {
        let server = try SocketServer()
        let path = server.directory + "/body"
        try Data(HTTPTestSupport.content(3_000_000)).write(to: URL(fileURLWithPath: path))
        let response = try await Self.client(server.socketPath).send(
            HTTPRequest(method: .post, url: "http://localhost/upload", body: .file(path: path)))
        #expect(String(decoding: response.body, as: UTF8.self) == "3000000 ok length")
    }
}
