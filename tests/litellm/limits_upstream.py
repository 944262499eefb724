#!/usr/bin/env python3
"""A loopback OpenAI-compatible upstream for the limiter checks (`ratecheck limits`).

    python3 limits_upstream.py PORT        (PORT 0 picks a free one; the chosen port is printed)

Serves, on 127.0.0.1 only, with the standard library only:
  GET  /v1/models             the one model, `limits-model`
  POST /v1/chat/completions   JSON, or SSE with "stream": true (`chat.completion.chunk` ... [DONE])
  POST /v1/completions        JSON, or SSE (`text_completion` chunks ... [DONE])
  POST /v1/responses          JSON, or SSE (`response.created` ... `response.completed`)
  POST /v1/embeddings         JSON

What the limiter checks need from a model, and what a real one does:
  - a known usage: prompt tokens counted from the text received (four for every three words, as
    a tokenizer counts English), completion tokens RATECHECK_UPSTREAM_COMPLETION_TOKENS (10, at
    most `max_tokens`); embeddings report the prompt tokens only;
  - long generations take long: a request for at least 200 output tokens (`max_tokens`,
    `max_completion_tokens`, `max_output_tokens`) takes RATECHECK_UPSTREAM_SLOW_SECS (3) seconds,
    its stream spread over that time, so a client can hold a gateway's concurrency slot with it;
    shorter requests answer at once;
  - failure on demand: a request whose `user` field is "fail-500" gets a 500.
"""

import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "limits-model"
COMPLETION_TOKENS = int(os.environ.get("RATECHECK_UPSTREAM_COMPLETION_TOKENS", "10"))
SLOW_SECS = float(os.environ.get("RATECHECK_UPSTREAM_SLOW_SECS", "3"))
LONG = 200
WORDS = 10

_lock = threading.Lock()
_in_flight = {"now": 0, "max": 0}


def _max_tokens(body: dict) -> int:
    for k in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        v = body.get(k)
        if isinstance(v, int):
            return v
    return 0


def _text(value) -> str:
    """Every string in a prompt, messages or input, joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_text(v) for k, v in value.items() if k in ("content", "text", "input"))
    return ""


def _prompt_tokens(body: dict) -> int:
    words = _text(body.get("messages") or body.get("prompt") or body.get("input")).split()
    return max(1, (len(words) * 4 + 2) // 3)


def _completion_tokens(body: dict) -> int:
    limit = _max_tokens(body)
    return min(COMPLETION_TOKENS, limit) if limit else COMPLETION_TOKENS


def _chat_usage(body: dict) -> dict:
    p, c = _prompt_tokens(body), _completion_tokens(body)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _responses_usage(body: dict) -> dict:
    p, c = _prompt_tokens(body), _completion_tokens(body)
    return {
        "input_tokens": p,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": c,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": p + c,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ratecheck-limits-upstream/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream: %s\n" % (fmt % args))

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def _event(self, payload: str, name: str | None = None) -> None:
        text = (f"event: {name}\n" if name else "") + f"data: {payload}\n\n"
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "ratecheck"}]})
        elif self.path.rstrip("/") == "/in-flight":
            with _lock:
                self._json(200, dict(_in_flight))
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error", "code": "404"}})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error", "code": "400"}})
            return
        route = self.path.rstrip("/").removeprefix("/v1")
        handlers = {
            "/chat/completions": self._chat,
            "/completions": self._completions,
            "/responses": self._responses,
            "/embeddings": self._embeddings,
        }
        handler = handlers.get(route)
        if handler is None:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error", "code": "404"}})
            return
        if body.get("user") == "fail-500":
            self._json(500, {"error": {"message": "upstream failure on demand", "type": "server_error", "code": "500"}})
            return
        with _lock:
            _in_flight["now"] += 1
            _in_flight["max"] = max(_in_flight["max"], _in_flight["now"])
        try:
            slow = SLOW_SECS if _max_tokens(body) >= LONG else 0.0
            handler(body, slow)
        finally:
            with _lock:
                _in_flight["now"] -= 1

    def _words(self, slow: float, emit) -> None:
        for i in range(WORDS):
            if slow:
                time.sleep(slow / WORDS)
            emit(f"w{i}" + ("" if i == WORDS - 1 else " "))

    def _chat(self, body: dict, slow: float) -> None:
        model = body.get("model") or MODEL
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        if not body.get("stream"):
            time.sleep(slow)
            text = " ".join(f"w{i}" for i in range(WORDS))
            self._json(200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": _chat_usage(body),
            })
            return
        self._start_stream()

        def chunk(delta: dict, finish=None, usage=None, choices=True) -> str:
            out = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            out["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []
            if usage is not None:
                out["usage"] = usage
            return json.dumps(out)

        self._event(chunk({"role": "assistant", "content": ""}))
        self._words(slow, lambda w: self._event(chunk({"content": w})))
        self._event(chunk({}, finish="stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(chunk({}, usage=_chat_usage(body), choices=False))
        self._event("[DONE]")
        self._end_stream()

    def _completions(self, body: dict, slow: float) -> None:
        model = body.get("model") or MODEL
        cid = "cmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        if not body.get("stream"):
            time.sleep(slow)
            text = " ".join(f"w{i}" for i in range(WORDS))
            self._json(200, {
                "id": cid, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                "usage": _chat_usage(body),
            })
            return
        self._start_stream()

        def chunk(text: str, finish=None) -> str:
            return json.dumps({"id": cid, "object": "text_completion", "created": created, "model": model,
                               "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]})

        self._words(slow, lambda w: self._event(chunk(w)))
        self._event(chunk("", finish="stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(json.dumps({"id": cid, "object": "text_completion", "created": created, "model": model,
                                    "choices": [], "usage": _chat_usage(body)}))
        self._event("[DONE]")
        self._end_stream()

    def _response_object(self, body: dict, rid: str, model: str, status: str, text: str) -> dict:
        done = status == "completed"
        return {
            "id": rid, "object": "response", "created_at": int(time.time()), "status": status,
            "model": model, "output": [] if not done else [{
                "type": "message", "id": "msg_" + rid[5:], "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": _responses_usage(body) if done else None,
        }

    def _responses(self, body: dict, slow: float) -> None:
        model = body.get("model") or MODEL
        rid = "resp_" + uuid.uuid4().hex[:24]
        text = " ".join(f"w{i}" for i in range(WORDS))
        if not body.get("stream"):
            time.sleep(slow)
            self._json(200, self._response_object(body, rid, model, "completed", text))
            return
        self._start_stream()
        seq = [0]

        def ev(kind: str, payload: dict) -> None:
            payload = {"type": kind, "sequence_number": seq[0], **payload}
            seq[0] += 1
            self._event(json.dumps(payload), kind)

        ev("response.created", {"response": self._response_object(body, rid, model, "in_progress", "")})
        item = {"type": "message", "id": "msg_" + rid[5:], "status": "in_progress", "role": "assistant", "content": []}
        ev("response.output_item.added", {"output_index": 0, "item": item})
        ev("response.content_part.added", {"item_id": item["id"], "output_index": 0, "content_index": 0,
                                           "part": {"type": "output_text", "text": "", "annotations": []}})
        self._words(slow, lambda w: ev("response.output_text.delta", {"item_id": item["id"], "output_index": 0,
                                                                       "content_index": 0, "delta": w}))
        ev("response.output_text.done", {"item_id": item["id"], "output_index": 0, "content_index": 0, "text": text})
        ev("response.completed", {"response": self._response_object(body, rid, model, "completed", text)})
        self._end_stream()

    def _embeddings(self, body: dict, slow: float) -> None:
        items = body.get("input")
        n = len(items) if isinstance(items, list) else 1
        self._json(200, {
            "object": "list", "model": body.get("model") or MODEL,
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(n)],
            "usage": {"prompt_tokens": _prompt_tokens(body), "total_tokens": _prompt_tokens(body)},
        })


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: limits_upstream.py PORT")
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
