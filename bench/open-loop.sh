#!/usr/bin/env bash
# Open-loop accuracy: `ratecheck load --rate RATE --duration SECONDS` against nginx
# (bench/nginx-up.sh). Prints the rate asked for, the rate achieved as ratecheck reports it and
# as nginx counted it, the late and dropped slots, and how long after its intended time a
# request went out; exits 1 when nginx's count is more than 0.5 % off the schedule.
#
#   bench/open-loop.sh [RATE] [SECONDS]     (default 20000 requests/second for 30 s)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${1:-20000}"
SECS="${2:-30}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
# shellcheck source=bench/nginx-up.sh
. bench/nginx-up.sh
before=$(served)
/usr/bin/time -f "%M" -o "$TMP/rss" "$BIN" load "$URL" --model m --rate "$RATE" \
  --duration "${SECS}s" --format json -o "$TMP/report.json" >/dev/null 2>"$TMP/stderr" || true
after=$(served)
python3 - "$TMP/report.json" "$RATE" "$SECS" "$((after - before - 1))" "$(tail -1 "$TMP/rss")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rate, secs, served, rss = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s, q = r["schedule"], r["latency"]["queued"]
off = (served / secs - rate) / rate * 100
print(f"asked {rate:,.0f} req/s for {secs:.0f} s: ratecheck reports {s['achieved_rate']:,.1f} req/s, "
      f"nginx served {served:,} ({served / secs:,.1f} req/s, {off:+.3f} %)")
print(f"slots late (> 10 ms) {s['late']}, dropped at the in-flight cap {s['dropped_at_cap']}; "
      f"sent after the intended time: median {q['p50']:.3f} ms, p99 {q['p99']:.3f} ms, max {q['max']:.3f} ms; "
      f"latency from intended p50 {r['latency']['from_intended']['p50']:.3f} ms, p99 {r['latency']['from_intended']['p99']:.3f} ms; "
      f"peak RSS {rss / 1024:.0f} MiB")
sys.exit(0 if abs(off) <= 0.5 else 1)
PY
