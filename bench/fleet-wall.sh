#!/usr/bin/env bash
# Wall time of `ratecheck fleet` against a real LiteLLM 1.106.12 pair on one real Redis, and the
# same requests sent by hand (`curl -s -D -` round robin, the same count), median of N runs, each
# with a fresh key of rpm 5 (the check spends its window: 5 admitted + 2 refusals per instance).
#
#   bench/fleet-wall.sh [RUNS]       (default 5; needs tests/litellm/setup.sh and redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
LITELLM="${RATECHECK_LITELLM:-$(tests/litellm/setup.sh --print-bin)}"
[ -x "$LITELLM" ] || { echo "LiteLLM not found at $LITELLM: run tests/litellm/setup.sh" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-server not found: run tests/redis/setup.sh" >&2; exit 2; }
PIDS=()
# Everything this script starts is stopped by its PID (each proxy by its process group).
cleanup() {
  for p in "${PIDS[@]}"; do kill -- "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.0f} ms (min {min(v):.0f}, max {max(v):.0f}, n={len(v)})")' "$@"; }
fresh_key() { echo "sk-rc-5-1000000-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
PIDS+=("$!")
CONFIG="${TMPDIR:-/tmp}/ratecheck-bench-fleet-$REDIS_PORT.yaml"
sed "s/^general_settings:/general_settings:\n  coordination_redis:\n    host: 127.0.0.1\n    port: $REDIS_PORT/" \
  tests/litellm/config.yaml >"$CONFIG"
URLS=()
for _ in 1 2; do
  PORT=$(free_port)
  (cd tests/litellm && exec setsid env LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
     LITELLM_MASTER_KEY="sk-master-$(python3 -c 'import secrets; print(secrets.token_hex(16))')" \
     "$LITELLM" --config "$CONFIG" --host 127.0.0.1 --port "$PORT" --num_workers 1 \
     >"${TMPDIR:-/tmp}/ratecheck-bench-fleet-$PORT.log" 2>&1) &
  PIDS+=("-$!")
  URLS+=("http://127.0.0.1:$PORT")
done
for u in "${URLS[@]}"; do
  for _ in $(seq 1 240); do curl -sf "$u/health/liveliness" >/dev/null && break; sleep 0.5; done
done
# One warm-up check: LiteLLM's first requests take 150-400 ms.
RATECHECK_API_KEY="$(fresh_key)" "$BIN" fleet "${URLS[@]}" --format json >/dev/null 2>&1 || true

body='{"model":"ratecheck-model","messages":[{"role":"user","content":"hi"}],"max_tokens":1}'
fleet=() curl_loop=()
for _ in $(seq 1 "$RUNS"); do
  t0=$(date +%s%N)
  n=$(RATECHECK_API_KEY="$(fresh_key)" "$BIN" fleet "${URLS[@]}" --format json 2>/dev/null \
      | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["outcome"]["exit_code"] == 0, r; print(len(r["answers"]))')
  t1=$(date +%s%N)
  fleet+=("$(( (t1 - t0) / 1000 ))e-3")
  key=$(fresh_key)
  t0=$(date +%s%N)
  for i in $(seq 0 $((n - 1))); do
    curl -s -o /dev/null -D - -H "Authorization: Bearer $key" -H 'content-type: application/json' \
      -d "$body" "${URLS[$((i % 2))]}/v1/chat/completions" >/dev/null
  done
  t1=$(date +%s%N)
  curl_loop+=("$(( (t1 - t0) / 1000 ))e-3")
done
echo "ratecheck fleet, 2 instances on Redis, rpm 5 ($n requests): $(median "${fleet[@]}")"
echo "the same $n requests by hand, curl round robin:            $(median "${curl_loop[@]}")"
