#!/usr/bin/env python3
"""A loopback HTTPS gateway for ratecheck's TLS tests, standard library only.

    python3 server.py CERT.pem KEY.pem      (prints "listening on PORT", serves until killed)

Answers every POST with a chat completion and OpenAI-style rate-limit headers, GET /v1/models
with one model. The certificate is made by the test (a leaf for 127.0.0.1 signed by a private
CA, or a self-signed certificate), so that trusting it takes `--cacert`.
"""

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-ratelimit-limit-requests", "100")
        self.send_header("x-ratelimit-remaining-requests", "99")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"object": "list", "data": [{"id": "tls-model", "object": "model"}]})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        self._send({"object": "chat.completion", "choices": []})


def main() -> None:
    cert, key = sys.argv[1], sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
