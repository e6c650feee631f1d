#!/usr/bin/env python3
"""Stand-in for a web app served behind nginx (ViewBovis' Flask app under gunicorn, the
Auspice dashboard): answers every GET with its name and the data version, and appends an
access-log line per request. Standard library only."""

import argparse
import datetime
import http.server
import pathlib


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--data", default="/")
    p.add_argument("--access-log")
    args = p.parse_args()
    version_file = pathlib.Path(args.data) / "VERSION"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            version = version_file.read_text().strip() if version_file.exists() else "none"
            body = f"{args.name}\ndata: {version}\npath: {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):
            if args.access_log:
                now = datetime.datetime.now().isoformat(timespec="seconds")
                with open(args.access_log, "a") as log:
                    log.write(f"{now} {self.address_string()} {fmt % a}\n")

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
