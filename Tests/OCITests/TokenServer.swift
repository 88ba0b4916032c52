import Foundation
import HTTP
import Testing
import TestSupport

/// A small token service for distribution's token auth: python3's http.server issuing ES256 JWTs
/// (signed with openssl) whose `x5c` header carries a self-signed certificate the registry
/// trusts through `rootcertbundle`. It checks Basic credentials and counts the tokens it issued.
final class TokenServer: @unchecked Sendable {
    static let service = "otter-test-registry"
    static let issuer = "otter-test-issuer"

    let directory: URL
    let port: Int
    private let process: Process

    var realm: String { "http://127.0.0.1:\(port)/token" }
    var certificatePath: String { directory.appendingPathComponent("token.crt").path }

    struct Stats: Decodable {
        var tokens: Int
        var refused: Int
    }

    init(user: String, password: String, lifetime: Int = 300) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-oci-token-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("token_server.py")
        try Self.script.write(to: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, directory.path, user, password, String(lifetime)]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw FixtureError("token server did not start")
        }
        self.port = port
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func stats() async throws -> Stats {
        let client = HTTPClient(configuration: .init(retry: .none, proxy: .none))
        let response = try await client.get("http://127.0.0.1:\(port)/stats").requireSuccess()
        return try JSONDecoder().decode(Stats.self, from: Data(response.body))
    }

    static let script = #"""
import base64, json, os, subprocess, sys, threading, time, uuid
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

work, user, password, lifetime = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = os.path.join(work, 'token.key')
crt = os.path.join(work, 'token.crt')
subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=otter-test-token'], check=True, capture_output=True)
der = subprocess.run(['openssl', 'x509', '-in', crt, '-outform', 'DER'], check=True, capture_output=True).stdout

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()

def der_to_raw(sig):
    i = 2
    out = b''
    for _ in range(2):
        assert sig[i] == 2
        n = sig[i + 1]
        out += sig[i + 2:i + 2 + n].lstrip(b'\0').rjust(32, b'\0')
        i += 2 + n
    return out

stats = {'tokens': 0, 'refused': 0}
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == '/stats':
            with lock:
                return self.reply(200, stats)
        if url.path != '/token':
            return self.reply(404, {})
        expected = 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()
        if self.headers.get('Authorization') != expected:
            with lock:
                stats['refused'] += 1
            return self.reply(401, {'details': 'wrong credentials'})
        access = []
        for scope in query.get('scope', []):
            for item in scope.split(' '):
                parts = item.split(':')
                if len(parts) >= 3:
                    access.append({'type': parts[0], 'name': ':'.join(parts[1:-1]), 'actions': parts[-1].split(',')})
        now = int(time.time())
        header = {'typ': 'JWT', 'alg': 'ES256', 'x5c': [base64.b64encode(der).decode()]}
        claims = {'iss': 'otter-test-issuer', 'sub': user, 'aud': query.get('service', [''])[0], 'exp': now + lifetime,
                  'nbf': now - 10, 'iat': now, 'jti': str(uuid.uuid4()), 'access': access}
        signing = (b64u(json.dumps(header).encode()) + '.' + b64u(json.dumps(claims).encode())).encode()
        sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key], input=signing, check=True,
                             capture_output=True).stdout
        with lock:
            stats['tokens'] += 1
        self.reply(200, {'token': signing.decode() + '.' + b64u(der_to_raw(sig)), 'expires_in': lifetime})

server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""#
}
