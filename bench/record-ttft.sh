#!/usr/bin/env bash
# Time to first token through `ratecheck record` against direct, with the official openai SDK
# on a real LiteLLM 1.106.12 proxy: ROUNDS alternated rounds of 20 streams each way, medians
# over every stream (tests/record/sdk.py measures call to first content chunk).
#
#   bench/record-ttft.sh [ROUNDS]     (default 3; needs tests/litellm/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
LITELLM="${RATECHECK_LITELLM:-$(tests/litellm/setup.sh --print-bin)}"
[ -x "$LITELLM" ] || { echo "LiteLLM not found at $LITELLM: run tests/litellm/setup.sh" >&2; exit 2; }
PYTHON="$(dirname "$LITELLM")/python"
PIDS=()
# Everything this script starts is stopped by its PID (the proxy by its process group).
cleanup() {
  for p in "${PIDS[@]}"; do kill -- "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
(cd tests/litellm && exec setsid env LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
   LITELLM_MASTER_KEY="sk-master-$(python3 -c 'import secrets; print(secrets.token_hex(16))')" \
   "$LITELLM" --config config.yaml --host 127.0.0.1 --port "$PORT" --num_workers 1 \
   >"${TMPDIR:-/tmp}/ratecheck-bench-record-$PORT.log" 2>&1) &
PIDS+=("-$!")
for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$PORT/health/liveliness" >/dev/null && break; sleep 0.5; done
REC=$(free_port)
"$BIN" record --upstream "http://127.0.0.1:$PORT" --listen "127.0.0.1:$REC" --format json >/dev/null 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 40); do (exec 3<>"/dev/tcp/127.0.0.1/$REC") 2>/dev/null && break; sleep 0.1; done
export OPENAI_API_KEY="sk-rc-100000-1000000000-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
export NO_PROXY=127.0.0.1,localhost
"$PYTHON" tests/record/sdk.py "http://127.0.0.1:$PORT/v1" 5 >/dev/null   # warm-up
OUT="${TMPDIR:-/tmp}/ratecheck-bench-record-ttft.json"
: >"$OUT"
for _ in $(seq 1 "$ROUNDS"); do
  "$PYTHON" tests/record/sdk.py "http://127.0.0.1:$PORT/v1" 20 | sed 's/^/direct /' >>"$OUT"
  "$PYTHON" tests/record/sdk.py "http://127.0.0.1:$REC/v1" 20 | sed 's/^/through /' >>"$OUT"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
by = {"direct": [], "through": []}
for line in open(sys.argv[1]):
    way, doc = line.split(" ", 1)
    by[way] += json.loads(doc)["ttft_ms"]
for way, xs in by.items():
    print(f"{way:8} median {statistics.median(xs):.2f} ms (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})")
print(f"added by the recorder: {statistics.median(by['through']) - statistics.median(by['direct']):+.2f} ms (difference of medians)")
PY
