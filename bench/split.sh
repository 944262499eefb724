#!/usr/bin/env bash
# One test split over four processes against the same test in one process: `ratecheck load
# --rate RATE --duration SECONDS` once whole, and as four shards (`--segment K/4`, one common
# `--start-at`, `--raw`) folded by `ratecheck merge`, interleaved rounds against the simulator
# (litellm-v3 profile: streams lose the limiter's headers; every answer takes 50 ms, streamed
# in frames 5 ms apart, so that the latency measured is the target's, not the noise). Prints,
# per round, the requests each sent, p50 and p99 of the latency from intended send, the
# finding kinds and the exit; then the medians. The latency of two whole runs is compared
# too, to show how much two runs of the same test differ on this machine anyway. Exits 1 when
# the merged requests are more than 0.5 % off the whole run's, or findings or exit differ.
#
#   bench/split.sh [ROUNDS] [RATE] [SECONDS]     (default 3 rounds of 200 requests/s for 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
RATE="${2:-200}"
SECS="${3:-10}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
TMP="$(mktemp -d)"
MOCK=""
cleanup() {
  if [ -n "$MOCK" ]; then kill "$MOCK" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
"$BIN" mock --port 0 --profile litellm-v3 --rpm 10000000 --tpm 1000000000 --slow 50ms --chunk-delay 5ms \
  >"$TMP/mock.out" 2>&1 &
MOCK=$!
URL=""
for _ in $(seq 50); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$TMP/mock.out" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "the simulator did not start" >&2; exit 1; }
TEST=(--model m --rate "$RATE" --duration "${SECS}s" --stream-fraction 0.5 --max-tokens 200 --format json)

whole() { # $1: report file
  "$BIN" load "$URL" "${TEST[@]}" -o "$1" >/dev/null 2>&1 || true
}

split() { # $1: folder for the raw results, $2: merged report file
  mkdir -p "$1"
  local at pids=()
  at=$(($(date +%s) + 2))
  for k in 1 2 3 4; do
    "$BIN" load "$URL" "${TEST[@]}" --segment "$k/4" --start-at "$at" \
      --raw "$1/shard-$k.json" >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  "$BIN" merge "$1"/shard-*.json --format json -o "$2" >/dev/null 2>&1 || true
}

for r in $(seq "$ROUNDS"); do
  whole "$TMP/whole-$r.json"
  split "$TMP/raw-$r" "$TMP/merged-$r.json"
  whole "$TMP/again-$r.json"
done

python3 - "$TMP" "$ROUNDS" "$RATE" "$SECS" <<'PY'
import json, statistics, sys
tmp, rounds, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def load(name):
    return json.load(open(f"{tmp}/{name}"))
def kinds(r):
    return sorted(f["kind"] for f in r["findings"] + r["warnings"])
def lat(r, p):
    return r["latency"]["from_intended"][p]
ok = True
rows = []
print(f"{rounds} rounds, {rate:.0f} requests/s for {secs:.0f} s, half streamed")
print("round | whole: sent p50 p99 | 4 shards merged: sent p50 p99 | sent off | findings, exit (whole / merged)")
for i in range(1, rounds + 1):
    w, m, a = load(f"whole-{i}.json"), load(f"merged-{i}.json"), load(f"again-{i}.json")
    ws, ms = w["requests"]["logical"], m["requests"]["logical"]
    off = (ms - ws) / ws * 100
    same = kinds(w) == kinds(m) and w["outcome"] == m["outcome"]
    ok = ok and abs(off) <= 0.5 and same and not m["shards"]["problems"]
    rows.append((ws, ms, off, lat(w, "p50"), lat(m, "p50"), lat(w, "p99"), lat(m, "p99"),
                 lat(a, "p50"), lat(a, "p99")))
    print(f"{i} | {ws} {lat(w, 'p50'):.2f} {lat(w, 'p99'):.2f} ms | {ms} {lat(m, 'p50'):.2f} "
          f"{lat(m, 'p99'):.2f} ms | {off:+.3f} % | {','.join(kinds(w))} exit {w['outcome']['exit_code']}"
          f" / {','.join(kinds(m))} exit {m['outcome']['exit_code']}")
med = lambda k: statistics.median(row[k] for row in rows)
rel = lambda a, b: (a - b) / b * 100
print(f"medians: sent whole {med(0):.0f}, merged {med(1):.0f} ({med(2):+.3f} %); "
      f"p50 whole {med(3):.2f} ms, merged {med(4):.2f} ms ({rel(med(4), med(3)):+.1f} %); "
      f"p99 whole {med(5):.2f} ms, merged {med(6):.2f} ms ({rel(med(6), med(5)):+.1f} %)")
print(f"two whole runs of the same test: p50 {med(3):.2f} and {med(7):.2f} ms ({rel(med(7), med(3)):+.1f} %), "
      f"p99 {med(5):.2f} and {med(8):.2f} ms ({rel(med(8), med(5)):+.1f} %)")
sys.exit(0 if ok else 1)
PY
