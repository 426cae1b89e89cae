"""A stand-in visitor counter for checking an installed `loadtest`.

Speaks the contract's two operations on 127.0.0.1, standard library only:
POST /visits?path=P adds one to P's count and answers
200 {"path": P, "count": N}; GET /visits?path=P answers the count without
changing it (0 for a page never seen). Anything else is 404 or 405 with
the contract's error body. The count is one integer per path behind a lock,
so the increments are atomic and the load test's verdict must be PASS.

    python3 standin_counter.py PORT_FILE [--racy]

binds a free port, writes it to PORT_FILE once it listens, and serves until
it is terminated. `--racy` makes it read, pause and write instead (the
mistake the load test exists to catch): then the verdict must be FAIL.
"""

import json
import os
import sys
import time
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

COUNTS = {}
LOCK = threading.Lock()
RACY = "--racy" in sys.argv[2:]


class Counter(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the load test reuses connections
    disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed ACK

    def do_POST(self):
        self.visits(increment=True)

    def do_GET(self):
        self.visits(increment=False)

    def visits(self, increment):
        url = urlsplit(self.path)
        if url.path != "/visits":
            return self.answer(404, {"error": "not_found", "message": "unknown route"})
        paths = parse_qs(url.query).get("path", [])
        if len(paths) != 1 or not paths[0].startswith("/"):
            return self.answer(400, {"error": "invalid_path", "message": "give one path=/..."})
        path = paths[0]
        if RACY and increment:
            # Read, let another request in, write: loses updates under load.
            seen = COUNTS.get(path, 0)
            time.sleep(0.0005)
            COUNTS[path] = count = seen + 1
        else:
            with LOCK:
                if increment:
                    COUNTS[path] = COUNTS.get(path, 0) + 1
                count = COUNTS.get(path, 0)
        self.answer(200, {"path": path, "count": count})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet: thousands of requests
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    server.daemon_threads = True
    port_file = sys.argv[1]
    with open(port_file + ".tmp", "w", encoding="ascii") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)  # the reader never sees half
    server.serve_forever()


if __name__ == "__main__":
    main()
