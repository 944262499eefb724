#!/usr/bin/env bash
# One `ratecheck load` process holding many streams at once: bench/sse-target.py (Python on
# uvloop, in a session of its own) answers every streamed chat completion with 32 chunks, the
# first 50 ms after the request and then one every GAP_MS; ratecheck runs a closed loop of
# STREAMS workers, every request streamed, for SECONDS. Prints the streams the target held at
# once, those completed and failed, ratecheck's CPU and peak RSS (`/usr/bin/time`), and the
# peak RSS per open stream.
#
#   bench/many-streams.sh [STREAMS] [SECONDS]     (default 10000 streams for 20 s; GAP_MS=250)
#
# uvloop is installed once into a venv under ~/.cache/ratecheck/bench (as streams-vs-peer.sh
# does). A process may need `ulimit -n` above STREAMS + 64.
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS="${1:-10000}"
SECS="${2:-20}"
GAP_MS="${GAP_MS:-250}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
VENV="$HOME/.cache/ratecheck/bench/target-venv"
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q uvloop; }
TMP=$(mktemp -d)
TARGET_PID=""
trap '[ -n "$TARGET_PID" ] && kill "$TARGET_PID" 2>/dev/null; rm -rf "$TMP"' EXIT
setsid "$VENV/bin/python" bench/sse-target.py --port 0 --chunks 32 --first-ms 50 \
  --gap-ms "$GAP_MS" >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
for _ in $(seq 1 100); do grep -q listening "$TMP/target.out" && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' "$TMP/target.out")
/usr/bin/time -f "%M %U %S %e" -o "$TMP/time" "$BIN" load "$URL" --model bench-model \
  --concurrency "$STREAMS" --stream-fraction 1 --max-tokens 32 --duration "${SECS}s" \
  --format json -o "$TMP/report.json" >/dev/null 2>"$TMP/err" || true
curl -sf "$URL/stats" >"$TMP/target.json"
python3 - "$TMP" "$STREAMS" "$SECS" <<'PY'
import json, sys
tmp, streams, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rss_kib, user, system, wall = open(f"{tmp}/time").read().split()[-4:]
target = json.load(open(f"{tmp}/target.json"))
report = json.load(open(f"{tmp}/report.json"))
req = report["requests"]
print(f"{streams:,} streams asked for {secs} s; the target held {target['most_open']:,} at once")
print(f"  completed {req['succeeded']:,}, failed {req['failed']:,}; ratecheck CPU {float(user):.2f} s user, {float(system):.2f} s system")
print(f"  peak RSS {int(rss_kib) / 1024:.1f} MiB, {int(rss_kib) / streams:.1f} KiB per open stream")
PY
