#!/usr/bin/env python3
"""A loopback static file server for OSTree tests.

Prints the bound port on its first line of stdout, then serves DIR on 127.0.0.1.
--die-after-bytes N: once N body bytes have been sent in total, drops the connection
mid-body and exits, like a server that dies during a transfer.
--rate BYTES_PER_SECOND: throttles every response body (for cancellation and progress tests).
--log FILE: appends one line per request: "<status> <path> <bytes sent>".
"""
import argparse, http.server, os, socketserver, sys, threading, time

parser = argparse.ArgumentParser()
parser.add_argument("directory")
parser.add_argument("--die-after-bytes", type=int, default=0)
parser.add_argument("--rate", type=int, default=0)
parser.add_argument("--log", default="")
args = parser.parse_args()

lock = threading.RLock()
sent_total = 0

def log(line):
    if args.log:
        with lock, open(args.log, "a") as f:
            f.write(line + "\n")

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=args.directory, **kw)

    def log_message(self, *a):
        pass

    def do_GET(self):
        global sent_total
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            log("404 %s 0" % self.path)
            return
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        sent = 0
        with open(path, "rb") as f:
            while True:
                chunk = f.read(16384)
                if not chunk:
                    break
                if args.die_after_bytes:
                    with lock:
                        allowed = args.die_after_bytes - sent_total
                        if allowed <= len(chunk):
                            if allowed > 0:
                                self.wfile.write(chunk[:allowed])
                            sent_total = args.die_after_bytes
                            log("DIED %s %d" % (self.path, sent + max(allowed, 0)))
                            self.wfile.flush()
                            os._exit(0)
                        sent_total += len(chunk)
                self.wfile.write(chunk)
                sent += len(chunk)
                if args.rate:
                    time.sleep(len(chunk) / args.rate)
        log("200 %s %d" % (self.path, sent))

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
