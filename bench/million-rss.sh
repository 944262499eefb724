#!/usr/bin/env bash
# Memory over a long closed-loop run: `ratecheck load --requests N` (default 1,000,000) at CONC
# connections against nginx (bench/nginx-up.sh), its resident memory sampled every 0.5 s.
# Prints the samples' spread after the first 2 s and the peak, and exits 1 when memory grew by
# more than 10 % from the first sample after those 2 s to the last: a run must not grow with
# its length.
#
#   bench/million-rss.sh [REQUESTS]     (CONC=16)
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-1000000}"
CONC="${CONC:-16}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
# shellcheck source=bench/nginx-up.sh
. bench/nginx-up.sh
LOAD_PID=""
trap 'if [ -n "$LOAD_PID" ]; then kill "$LOAD_PID" 2>/dev/null || true; fi; nginx_down' EXIT
before=$(served)
"$BIN" load "$URL" --model m --concurrency "$CONC" --requests "$REQUESTS" --format json \
  -o "$TMP/report.json" >/dev/null 2>"$TMP/stderr" &
LOAD_PID=$!
t0=$(date +%s%N)
: >"$TMP/rss"
while kill -0 "$LOAD_PID" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$LOAD_PID/status" 2>/dev/null || true)
  if [ -n "$rss" ]; then echo "$(( ($(date +%s%N) - t0) / 1000000 )) $rss" >>"$TMP/rss"; fi
  sleep 0.5
done
wait "$LOAD_PID" && rc=0 || rc=$?
LOAD_PID=""
after=$(served)
python3 - "$TMP/rss" "$TMP/report.json" "$rc" "$((after - before - 1))" <<'PY'
import json, statistics, sys
samples = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
report = json.load(open(sys.argv[2]))
rc, served = int(sys.argv[3]), int(sys.argv[4])
steady = [kib for ms, kib in samples if ms >= 2000] or [kib for _, kib in samples]
growth = (steady[-1] - steady[0]) / steady[0] * 100
print(f"{report['requests']['attempts']:,} requests in {report['wall_ms'] / 1000:.1f} s "
      f"(nginx served {served:,}), exit {rc}")
print(f"resident memory after 2 s, {len(steady)} samples: first {steady[0] / 1024:.1f} MiB, "
      f"median {statistics.median(steady) / 1024:.1f}, last {steady[-1] / 1024:.1f}, "
      f"peak {max(k for _, k in samples) / 1024:.1f}; growth first to last {growth:+.1f} %")
sys.exit(0 if abs(growth) <= 10 and rc == 0 else 1)
PY
