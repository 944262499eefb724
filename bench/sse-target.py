#!/usr/bin/env python3
"""A paced OpenAI-compatible streaming target for load benchmarks, written for none of the tools.

POST /v1/chat/completions (and /v1/completions) with "stream": true answers as real SSE over
HTTP/1.1 chunked encoding: the head at once (with x-ratelimit-* headers), then --chunks content
chunks, the first --first-ms after the request was read and the others --gap-ms apart; the last
content chunk is followed in the same write by a chunk with finish_reason "stop", a usage chunk
when stream_options.include_usage asks for one, and `data: [DONE]`. Without "stream": true it
answers one JSON completion at once. GET /v1/models lists one model; GET /health answers 200.

Sends are paced by one 1 ms tick that writes every chunk that is due, so pacing costs one
timer, not one per stream. The server measures what it did: GET /stats answers JSON with the
streams begun, ended and open (and the most open at once), the content chunks and the SSE
events written (content, stop, usage and [DONE]), the process's own CPU seconds, and per-chunk
lateness, first-chunk delay and gaps between consecutive content chunks of a stream as written
(p50, p99, max, in ms); POST /stats/reset clears them.

    sse-target.py [--port 0] [--chunks 32] [--first-ms 50] [--gap-ms 20]

It prints `listening on http://127.0.0.1:PORT` once bound, and only ever binds 127.0.0.1.
uvloop is used when it is installed.
"""

import argparse
import array
import asyncio
import gc
import json
import math
import resource
import socket
import sys
import time

try:
    import uvloop
except ImportError:  # plain asyncio still works, more slowly
    uvloop = None

# Histograms in 0.01 ms buckets up to 1 s; later values land in the last bucket.
BUCKETS = 100_000


class Hist:
    def __init__(self):
        # An array, not a list: the garbage collector never walks it.
        self.counts = array.array("Q", bytes(8 * (BUCKETS + 1)))
        self.n = 0
        self.max = 0.0

    def add(self, ms):
        i = int(ms * 100)
        if i < 0:
            i = 0
        elif i > BUCKETS:
            i = BUCKETS
        self.counts[i] += 1
        self.n += 1
        if ms > self.max:
            self.max = ms

    def quantile(self, q):
        if not self.n:
            return None
        want = q * self.n
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if c and seen >= want:
                return i / 100
        return self.max

    def summary(self):
        return {
            "n": self.n,
            "p50": self.quantile(0.5),
            "p99": self.quantile(0.99),
            "max": round(self.max, 3),
        }


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.begun = 0
        self.ended = 0
        self.open = 0
        self.most_open = 0
        self.chunks = 0
        self.events = 0
        self.requests = 0
        self.late = Hist()
        self.first = Hist()
        self.gap = Hist()
        self.cpu0 = time.process_time()
        self.t0 = time.monotonic()

    def doc(self):
        return {
            "requests": self.requests,
            "streams_begun": self.begun,
            "streams_ended": self.ended,
            "streams_open": self.open,
            "most_open": self.most_open,
            "chunks_written": self.chunks,
            "events_written": self.events,
            "cpu_s": round(time.process_time() - self.cpu0, 3),
            "wall_s": round(time.monotonic() - self.t0, 3),
            "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "lateness_ms": self.late.summary(),
            "first_chunk_ms": self.first.summary(),
            "gap_ms": self.gap.summary(),
        }


STATS = Stats()


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def event(doc) -> bytes:
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


class Stream:
    __slots__ = ("proto", "content", "tail", "tail_events", "left", "read_at", "due", "last")

    def __init__(self, proto, content, tail, tail_events, left, read_at):
        self.proto = proto
        self.content = content
        self.tail = tail
        self.tail_events = tail_events
        self.left = left
        self.read_at = read_at
        self.due = 0.0
        self.last = 0.0


class Pacer:
    """Every due chunk, written from one 1 ms tick: slots keyed by the due millisecond."""

    def __init__(self, loop, first_ms, gap_ms):
        self.loop = loop
        self.first = first_ms / 1000
        self.gap = gap_ms / 1000
        self.slots = {}
        self.done_ms = int(time.monotonic() * 1000)
        self.tick_handle = None

    def start(self, s: Stream):
        s.due = s.read_at + self.first
        self.put(s)
        if self.tick_handle is None:
            self.tick()

    def put(self, s):
        # The first millisecond boundary at or after the due time: never early.
        key = math.ceil(s.due * 1000)
        if key <= self.done_ms:
            key = self.done_ms + 1
        self.slots.setdefault(key, []).append(s)

    def tick(self):
        # The monotonic clock, not the loop's: uvloop's time is libuv's, cached per iteration
        # and in whole milliseconds.
        now = time.monotonic()
        now_ms = int(now * 1000)
        for key in range(self.done_ms + 1, now_ms + 1):
            due = self.slots.pop(key, None)
            if due:
                for s in due:
                    self.write(s, now)
        self.done_ms = now_ms
        if self.slots:
            # The next millisecond boundary (libuv's timers count whole milliseconds: one may
            # fire a little early, and the tick then finds nothing due and waits again).
            self.tick_handle = self.loop.call_later((now_ms + 1) / 1000 - now, self.tick)
        else:
            self.tick_handle = None

    def write(self, s: Stream, now):
        if s.proto.closed:
            STATS.open -= 1
            return
        STATS.late.add((now - s.due) * 1000)
        if s.last == 0.0:
            STATS.first.add((now - s.read_at) * 1000)
        else:
            STATS.gap.add((now - s.last) * 1000)
        s.last = now
        s.left -= 1
        STATS.chunks += 1
        STATS.events += 1
        if s.left > 0:
            s.proto.transport.write(s.content)
            s.due += self.gap
            self.put(s)
        else:
            s.proto.transport.write(s.content + s.tail)
            STATS.events += s.tail_events
            STATS.open -= 1
            STATS.ended += 1
            s.proto.busy = False
            if s.proto.close_after:
                s.proto.transport.close()
            else:
                s.proto.feed(b"")


class Conn(asyncio.Protocol):
    def __init__(self, server):
        self.server = server
        self.buf = b""
        self.closed = False
        self.busy = False
        self.close_after = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc):
        self.closed = True

    def data_received(self, data):
        self.feed(data)

    def feed(self, data):
        self.buf += data
        while not self.busy and not self.closed:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.transport.close()
                return
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self.transport.close()
                return
            method, path = parts[0], parts[1].split("?")[0]
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.server.handle(self, method, path, body, close)


class Server:
    def __init__(self, args, loop):
        self.args = args
        self.loop = loop
        self.pacer = Pacer(loop, args.first_ms, args.gap_ms)
        self.seq = 0
        self.window = 0
        self.in_window = 0

    def headers(self):
        # An OpenAI-style counter that never reaches zero, over one-minute windows.
        minute = int(time.time() // 60)
        if minute != self.window:
            self.window, self.in_window = minute, 0
        self.in_window += 1
        limit = 10_000_000
        return (
            f"x-ratelimit-limit-requests: {limit}\r\n"
            f"x-ratelimit-remaining-requests: {limit - self.in_window}\r\n"
            f"x-ratelimit-reset-requests: {60 - int(time.time()) % 60}s\r\n"
            f"x-ratelimit-limit-tokens: {limit * 100}\r\n"
            f"x-ratelimit-remaining-tokens: {limit * 100 - self.in_window * 48}\r\n"
            f"x-ratelimit-reset-tokens: {60 - int(time.time()) % 60}s\r\n"
        )

    def reply(self, conn, status, ctype, body: bytes, close):
        conn.transport.write(
            (
                f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\n"
                f"content-length: {len(body)}\r\n"
                f"{'connection: close' + chr(13) + chr(10) if close else ''}\r\n"
            ).encode()
            + body
        )
        if close:
            conn.transport.close()

    def handle(self, conn, method, path, body, close):
        read_at = time.monotonic()
        STATS.requests += 1
        if method == "GET" and path in ("/v1/models", "/models"):
            doc = {"object": "list", "data": [{"id": self.args.model, "object": "model", "owned_by": "bench"}]}
            return self.reply(conn, "200 OK", "application/json", json.dumps(doc).encode(), close)
        if method == "GET" and path == "/health":
            return self.reply(conn, "200 OK", "application/json", b'{"status":"ok"}', close)
        if method == "GET" and path == "/stats":
            return self.reply(conn, "200 OK", "application/json", json.dumps(STATS.doc()).encode(), close)
        if method == "POST" and path == "/stats/reset":
            STATS.reset()
            return self.reply(conn, "200 OK", "application/json", b"{}", close)
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            return self.reply(conn, "404 Not Found", "application/json", b'{"error":{"message":"not found"}}', close)
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return self.reply(conn, "400 Bad Request", "application/json", b'{"error":{"message":"bad json"}}', close)
        chat = path.endswith("chat/completions")
        self.seq += 1
        cid = f"chatcmpl-{self.seq}"
        model = req.get("model") or self.args.model
        n = self.args.chunks
        usage = {"prompt_tokens": 16, "completion_tokens": n, "total_tokens": 16 + n}
        obj = "chat.completion.chunk" if chat else "text_completion"
        created = int(time.time())

        def choice(text, finish):
            if chat:
                return {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
            return {"index": 0, "text": text, "finish_reason": finish}

        if not req.get("stream"):
            if chat:
                ch = {"index": 0, "message": {"role": "assistant", "content": "tok" * n}, "finish_reason": "stop"}
            else:
                ch = {"index": 0, "text": "tok" * n, "finish_reason": "stop"}
            doc = {"id": cid, "object": "chat.completion" if chat else "text_completion", "created": created,
                   "model": model, "choices": [ch], "usage": usage}
            head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{self.headers()}"
            data = json.dumps(doc).encode()
            conn.transport.write((head + f"content-length: {len(data)}\r\n\r\n").encode() + data)
            if close:
                conn.transport.close()
            return
        base = {"id": cid, "object": obj, "created": created, "model": model}
        content = chunked(event({**base, "choices": [choice("tok", None)]}))
        tail = event({**base, "choices": [choice("", "stop")]})
        tail_events = 2
        opts = req.get("stream_options") or {}
        if opts.get("include_usage"):
            tail += event({**base, "choices": [], "usage": usage})
            tail_events += 1
        tail = chunked(tail + b"data: [DONE]\n\n") + b"0\r\n\r\n"
        conn.transport.write(
            (
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                f"transfer-encoding: chunked\r\n{self.headers()}"
                f"{'connection: close' + chr(13) + chr(10) if close else ''}\r\n"
            ).encode()
        )
        conn.busy = True
        conn.close_after = close
        STATS.begun += 1
        STATS.open += 1
        STATS.most_open = max(STATS.most_open, STATS.open)
        self.pacer.start(Stream(conn, content, tail, tail_events, n, read_at))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--chunks", type=int, default=32)
    p.add_argument("--first-ms", type=float, default=50.0)
    p.add_argument("--gap-ms", type=float, default=20.0)
    p.add_argument("--model", default="bench-model")
    p.add_argument("--backlog", type=int, default=4096)
    args = p.parse_args()
    if args.chunks < 1:
        p.error("--chunks must be at least 1")
    if uvloop is not None:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = Server(args, loop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    srv = loop.run_until_complete(
        loop.create_server(lambda: Conn(server), sock=sock, backlog=args.backlog)
    )
    port = srv.sockets[0].getsockname()[1]
    # What exists now lives as long as the server: keep it out of every collection, and collect
    # the young generation less often (a full collection over thousands of streams stalls the
    # pacing).
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    print(f"listening on http://127.0.0.1:{port} ({'uvloop' if uvloop else 'asyncio'})", flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
