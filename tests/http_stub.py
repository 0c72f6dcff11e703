#!/usr/bin/env python3
"""A stand-in SMS gateway for the tests: HTTP on 127.0.0.1, a free port.

usage: http_stub.py PORTFILE LOGFILE

Writes the port it got into PORTFILE, then answers by path:
  /ok      200 "0: Accepted for delivery"   (Kannel's answer)
  /retry   503
  /fail    400, echoing the number and text it got (the sender must mask them)
  /slow    waits 3 s, then 200
  /flaky   503 the first time it sees an id, 200 after
  /nap     waits 0.5 s, then 200; 3 s when a file hang-ID is beside LOGFILE
Each request is logged to LOGFILE as one JSON object per line: method,
path, query and form (decoded, first values), and the raw body.
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

seen_ids = set()
lock = threading.Lock()


class Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body leave in two writes: without this, Nagle and
        # the client's delayed ACK add up to 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        params = dict(query, **form)
        with lock:
            with open(sys.argv[2], "a") as log:
                log.write(json.dumps({
                    "method": self.command, "path": url.path, "query": query,
                    "form": form, "body": raw,
                    "content_type": self.headers.get("Content-Type"),
                    "at": time.time()}) + "\n")
            first = params.get("id") not in seen_ids
            seen_ids.add(params.get("id"))
        if url.path == "/ok":
            self.answer(200, "0: Accepted for delivery\n")
        elif url.path == "/retry":
            self.answer(503, "queue full\n")
        elif url.path == "/fail":
            self.answer(400, "bad request for %s: %s\n"
                        % (params.get("to"), params.get("text")))
        elif url.path == "/slow":
            time.sleep(3)
            self.answer(200, "late\n")
        elif url.path == "/nap":
            hang = os.path.join(os.path.dirname(sys.argv[2]),
                                "hang-%s" % params.get("id"))
            time.sleep(3 if os.path.exists(hang) else 0.5)
            self.answer(200, "0: Accepted for delivery\n")
        elif url.path == "/flaky":
            if first:
                self.answer(503, "try later\n")
            else:
                self.answer(200, "0: Accepted for delivery\n")
        else:
            self.answer(404, "no such path\n")

    do_GET = handle_any
    do_POST = handle_any


class Server(ThreadingHTTPServer):
    # A sender's batch opens up to [sender] concurrency connections at
    # once; the default backlog of 5 would drop the rest's SYNs (a second
    # lost to the retransmission).
    request_queue_size = 128


def main():
    server = Server(("127.0.0.1", 0), Gateway)
    server.daemon_threads = True
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
