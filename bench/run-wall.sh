#!/usr/bin/env bash
# Wall time of `ratecheck validate` (all shipped scenarios) and of `ratecheck run` on the shipped
# LiteLLM scenario (a 2-round probe of 4 endpoints plus 4 single requests: 20 requests), median of
# N runs, against the built-in simulator with SSE frames sent without pause.
#
#   bench/run-wall.sh [RUNS]       (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
MOCK_PID=""
cleanup() { if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.1f} ms (min {min(v):.1f}, max {max(v):.1f}, n={len(v)})")' "$@"; }

timed() { # command... -> milliseconds
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || true
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 ))e-3"
}

walls=()
for _ in $(seq 1 "$RUNS"); do walls+=("$(timed "$BIN" validate scenarios/*.yaml)"); done
echo "validate, $(ls scenarios/*.yaml | wc -l) shipped scenarios:               $(median "${walls[@]}")"

coproc MOCK { exec "$BIN" mock --port 0 --profile litellm-v3 --chunk-delay 0ms --rpm 100000; }
MOCK_PID=$MOCK_PID
read -r line <&"${MOCK[0]}"
URL=$(grep -o 'http://[0-9.:]*' <<<"$line")
walls=()
for i in $(seq 1 "$RUNS"); do
  walls+=("$(LITELLM_API_KEY="sk-bench-$i-$RANDOM" timed "$BIN" run scenarios/litellm-v3-streaming-headers.yaml --target "$URL")")
done
echo "run litellm-v3-streaming-headers (20 req):   $(median "${walls[@]}")"
