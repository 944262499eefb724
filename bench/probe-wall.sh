#!/usr/bin/env bash
# Wall time of `ratecheck probe` (all five endpoints, both shapes: 9 requests), median of N runs,
# against the built-in simulator and against a real LiteLLM 1.106.12 proxy on loopback.
#
#   bench/probe-wall.sh [RUNS]       (default 5; needs tests/litellm/setup.sh for the proxy part)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
PIDS=()
PORT=""
# Everything this script starts is stopped by its PID (the proxy by its process group).
cleanup() {
  for p in "${PIDS[@]}"; do kill -- "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.1f} ms (min {min(v):.1f}, max {max(v):.1f}, n={len(v)})")' "$@"; }

measure() { # URL KEY-PREFIX -> prints median of wall_ms and of process wall time
  local url=$1 prefix=$2 walls=() procs=()
  for i in $(seq 1 "$RUNS"); do
    local t0 t1 json
    t0=$(date +%s%N)
    json=$(RATECHECK_API_KEY="$prefix-$i-$RANDOM" "$BIN" probe "$url" --format json || true)
    t1=$(date +%s%N)
    walls+=("$(python3 -c 'import json,sys; print(json.load(sys.stdin)["wall_ms"])' <<<"$json")")
    procs+=("$(( (t1 - t0) / 1000 ))e-3")
  done
  echo "  probe wall_ms (in-process): $(median "${walls[@]}")"
  echo "  process wall time:          $(median "${procs[@]}")"
}

echo "simulator (litellm-v3 profile, 10 ms between SSE frames):"
coproc MOCK { exec "$BIN" mock --port 0 --profile litellm-v3; }
PIDS+=("$MOCK_PID")
read -r line <&"${MOCK[0]}"
URL=$(grep -o 'http://[0-9.:]*' <<<"$line")
measure "$URL" "sk-bench"

LITELLM="${RATECHECK_LITELLM:-$(tests/litellm/setup.sh --print-bin)}"
if [ -x "$LITELLM" ]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd tests/litellm && exec setsid env LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
     LITELLM_MASTER_KEY="sk-master-$(python3 -c 'import secrets; print(secrets.token_hex(16))')" \
     "$LITELLM" --config config.yaml --host 127.0.0.1 --port "$PORT" --num_workers 1 >"${TMPDIR:-/tmp}/ratecheck-bench-litellm.log" 2>&1) &
  PIDS+=("-$!")
  for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$PORT/health/liveliness" >/dev/null && break; sleep 0.5; done
  # One warm-up probe: LiteLLM's first request takes 150-400 ms.
  RATECHECK_API_KEY="sk-rc-1000-1000000-warm" "$BIN" probe "http://127.0.0.1:$PORT" --format json >/dev/null || true
  echo "real LiteLLM 1.106.12 proxy (CustomLLM model, 1 worker):"
  measure "http://127.0.0.1:$PORT" "sk-rc-1000-1000000-bench"
else
  echo "real LiteLLM: skipped ($LITELLM not found; run tests/litellm/setup.sh)"
fi
