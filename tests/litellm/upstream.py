#!/usr/bin/env python3
"""A loopback OpenAI-compatible upstream that sends its own OpenAI-style rate-limit headers.

    python3 upstream.py PORT        (PORT 0 picks a free one; the chosen port is printed)

Serves, on 127.0.0.1 only, with the standard library only:
  GET  /v1/models             the one model, `upstream-model`
  POST /v1/chat/completions   JSON, or SSE when the body has "stream": true (real
                              `chat.completion.chunk` events, then `data: [DONE]`)

Every response carries the six OpenAI names, as OpenAI sends them, with values that cannot
be mistaken for a LiteLLM key's limits:
  x-ratelimit-limit-requests: 10000      x-ratelimit-remaining-requests: 9999, 9998, ...
  x-ratelimit-limit-tokens: 2000000      x-ratelimit-remaining-tokens: 2000000 minus tokens used
  x-ratelimit-reset-requests: 6ms        x-ratelimit-reset-tokens: 0s
plus `x-test-upstream: 1`. Used by config-legacy-upstream.yaml (see MEASURED.md).
"""

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIMIT_REQUESTS = 10000
LIMIT_TOKENS = 2_000_000
MODEL = "upstream-model"
WORDS = ["rate", "limits", "are", "fine"]
PROMPT_TOKENS = 5

_lock = threading.Lock()
_used = {"requests": 0, "tokens": 0}


def _account(tokens: int) -> dict:
    with _lock:
        _used["requests"] += 1
        _used["tokens"] += tokens
        return {
            "x-ratelimit-limit-requests": str(LIMIT_REQUESTS),
            "x-ratelimit-remaining-requests": str(max(LIMIT_REQUESTS - _used["requests"], 0)),
            "x-ratelimit-limit-tokens": str(LIMIT_TOKENS),
            "x-ratelimit-remaining-tokens": str(max(LIMIT_TOKENS - _used["tokens"], 0)),
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "0s",
            "x-test-upstream": "1",
        }


def _usage() -> dict:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": len(WORDS),
        "total_tokens": PROMPT_TOKENS + len(WORDS),
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ratecheck-upstream/1"

    def log_message(self, fmt, *args):  # one line per request on stderr
        sys.stderr.write("upstream: %s %s\n" % (self.address_string(), fmt % args))

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "ratecheck"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error", "code": "404"}})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error", "code": "404"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error", "code": "400"}})
            return
        model = body.get("model") or MODEL
        call_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        headers = _account(PROMPT_TOKENS + len(WORDS))
        if not body.get("stream"):
            self._json(
                200,
                {
                    "id": call_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": " ".join(WORDS)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(),
                },
                headers,
            )
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

        def event(payload: str) -> None:
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def chunk(delta: dict, finish=None, usage=None, choices=True) -> str:
            out = {"id": call_id, "object": "chat.completion.chunk", "created": created, "model": model}
            out["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []
            if usage is not None:
                out["usage"] = usage
            return json.dumps(out)

        event(chunk({"role": "assistant", "content": ""}))
        for i, word in enumerate(WORDS):
            event(chunk({"content": word + ("" if i == len(WORDS) - 1 else " ")}))
        event(chunk({}, finish="stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            event(chunk({}, usage=_usage(), choices=False))
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: upstream.py PORT")
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print(f"upstream: listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
