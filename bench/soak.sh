#!/usr/bin/env bash
# A bounded soak: `ratecheck load` against the simulator at a moderate rate for DURATION
# (default 10 minutes), the load process's resident memory sampled every INTERVAL seconds.
# After a one-minute warm-up every sample must stay within ±5 % of their median, or the
# script exits 1: a load run that grows with its length would fail the longer runs users make.
#
#   bench/soak.sh [DURATION_S] [RATE]     (defaults 600 and 200 requests/second, half streamed)
#
# The target is `ratecheck mock` (openai profile, limits out of reach, 1 ms between SSE
# chunks); both processes are stopped by their PIDs.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-600}"
RATE="${2:-200}"
INTERVAL="${INTERVAL:-10}"
WARMUP="${WARMUP:-60}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
MOCK_PID=""
LOAD_PID=""
OUT=$(mktemp -d)
cleanup() {
  for p in "$LOAD_PID" "$MOCK_PID"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
  done
  rm -rf "$OUT"
}
trap cleanup EXIT
coproc MOCK { exec "$BIN" mock --port 0 --profile openai --rpm 1000000000000 --tpm 1000000000000000 --chunk-delay 1ms; }
MOCK_PID=$MOCK_PID
read -r line <&"${MOCK[0]}"
URL=$(grep -o 'http://[0-9.:]*' <<<"$line")
"$BIN" load "$URL" --model mock-model --rate "$RATE" --duration "${DURATION}s" \
  --stream-fraction 0.5 --format json -o "$OUT/report.json" >/dev/null 2>"$OUT/stderr" &
LOAD_PID=$!
started=$(date +%s)
: >"$OUT/rss"
while kill -0 "$LOAD_PID" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$LOAD_PID/status" 2>/dev/null || true)
  now=$(($(date +%s) - started))
  if [ -n "$rss" ]; then echo "$now $rss" >>"$OUT/rss"; fi
  sleep "$INTERVAL"
done
wait "$LOAD_PID" && rc=0 || rc=$?
LOAD_PID=""
python3 - "$OUT/rss" "$OUT/report.json" "$WARMUP" "$rc" <<'EOF'
import json, statistics, sys
samples = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
report = json.load(open(sys.argv[2]))
warmup, rc = int(sys.argv[3]), int(sys.argv[4])
steady = [kb for t, kb in samples if t >= warmup]
if len(steady) < 3:
    sys.exit(f"too few samples after the warm-up: {samples}")
med = statistics.median(steady)
lo, hi = min(steady), max(steady)
dev = max(med - lo, hi - med) / med * 100
q = report["requests"]
print(f"requests: {q['logical']} sent, {q['succeeded']} succeeded, {q['failed']} failed; "
      f"achieved {report['schedule']['achieved_rate']:.1f}/s; exit {rc}")
print("rss (KiB) by second: " + ", ".join(f"{t}:{kb}" for t, kb in samples))
print(f"after {warmup} s: median {med/1024:.1f} MiB, min {lo/1024:.1f}, max {hi/1024:.1f}: "
      f"within ±{dev:.1f} % of the median ({len(steady)} samples)")
sys.exit(0 if dev <= 5.0 and rc == 0 else 1)
EOF
