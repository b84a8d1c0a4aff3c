"""A throwaway HTTP listener for FieldSync's webhook tests, listening on 127.0.0.1 only.

Prints the port it listens on as the first line of standard output, then appends one JSON line per request to
--record (method, path, headers, body). Answers each request with the next status of --statuses (comma-separated;
the last one repeats; default 200). Exits when standard input closes (its parent test ended) or after --lifetime
seconds, whichever comes first.
"""

import argparse
import http.server
import json
import os
import sys
import threading


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--statuses", default="200")
    parser.add_argument("--lifetime", type=float, default=120)
    options = parser.parse_args()
    statuses = [int(status) for status in options.statuses.split(",")]
    lock = threading.Lock()
    answered = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                status = statuses[min(answered[0], len(statuses) - 1)]
                answered[0] += 1
                with open(options.record, "a", encoding="utf-8") as out:
                    out.write(json.dumps({
                        "method": self.command,
                        "path": self.path,
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "body": body.decode("utf-8", "replace"),
                        "status": status,
                    }) + "\n")
            reply = b'{"ok": true}' if 200 <= status < 300 else b'{"error": "test says no"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)

    def stop_later():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=stop_later, daemon=True).start()
    threading.Timer(options.lifetime, lambda: os._exit(0)).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
