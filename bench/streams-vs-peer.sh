#!/usr/bin/env bash
# ratecheck load against GuideLLM on one streaming target that is neither's own:
# bench/sse-target.py (Python asyncio on uvloop, in a session of its own as a service would run)
# answers every chat completion with CHUNKS content chunks, the first FIRST_MS after the request
# and then one every GAP_MS, and measures its own pacing. ROUNDS interleaved rounds (the order
# alternates) of both tools, closed loop: 1 stream for SECONDS_EACH (the baseline), CONCURRENCY
# streams for SECONDS_EACH and for twice as long; then one `ratecheck load` process at BIG
# streams against the target with BIG_GAP_MS between chunks. For each tool: streams held at
# once (counted by the target), completed and failed; CPU of the tool's whole process tree per
# SSE event the target wrote, over the whole run and marginal (the long run less the short one,
# over the events it had more: start-up and shut-down cancel out); memory per open stream (peak
# RSS of the tree less the one-stream run's, over the streams); TTFT and inter-event medians and
# p99 as each tool reports them, beside the target's own record.
#
#   bench/streams-vs-peer.sh [ROUNDS] [CONCURRENCY]     (default 3 rounds at 1000 streams)
#
# Environment: SECONDS_EACH (15), CHUNKS (32), FIRST_MS (50), GAP_MS (20), BIG (10000; 0 skips
# it), BIG_GAP_MS (250), BIG_SECONDS (30), KEEP (1 keeps the runs' files). GuideLLM 0.8.1 (with torch and transformers, several
# GiB) and uvloop are installed once into venvs under ~/.cache/ratecheck/bench; GuideLLM sizes its
# synthetic prompts with a word-level tokenizer made offline (bench/tiny-tokenizer.py), since the
# Hugging Face hub is not reached.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
CONC="${2:-1000}"
SECONDS_EACH="${SECONDS_EACH:-15}"
CHUNKS="${CHUNKS:-32}"
FIRST_MS="${FIRST_MS:-50}"
GAP_MS="${GAP_MS:-20}"
BIG="${BIG:-10000}"
BIG_GAP_MS="${BIG_GAP_MS:-250}"
BIG_SECONDS="${BIG_SECONDS:-30}"
cargo build --release --quiet
BIN="${RATECHECK_BIN:-${CARGO_TARGET_DIR:-target}/release/ratecheck}"
# Every stream is a socket on each side.
ulimit -n "$(ulimit -Hn)"

CACHE="$HOME/.cache/ratecheck/bench"
mkdir -p "$CACHE"
# A venv under the cache with these packages, made once; prints its bin directory.
venv() {
  local dir="$CACHE/$1"; shift
  if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -m pip show -q "${@%%=*}" >/dev/null 2>&1; then
    python3 -m venv "$dir" >&2
    "$dir/bin/python" -m pip install -q "$@" >&2
  fi
  echo "$dir/bin"
}
TARGET_BIN=$(venv target-venv uvloop==0.23.0)
GL_BIN=$(venv guidellm-venv guidellm==0.8.1)
TOKENIZER="$CACHE/tiny-tokenizer"
[ -f "$TOKENIZER/tokenizer.json" ] || "$GL_BIN/python" bench/tiny-tokenizer.py "$TOKENIZER"

TMP=$(mktemp -d)
TARGET_PID=""
stop_target() {
  if [ -n "$TARGET_PID" ]; then kill "$TARGET_PID" 2>/dev/null || true; wait "$TARGET_PID" 2>/dev/null || true; fi
  TARGET_PID=""
}
# KEEP=1 keeps every run's files (reports, target counters, process-tree figures) in $TMP.
trap 'stop_target; if [ "${KEEP:-0}" = 1 ]; then echo "files kept in $TMP"; else rm -rf "$TMP"; fi' EXIT

# Starts the target with this gap between chunks; sets URL.
start_target() {
  stop_target
  : >"$TMP/target.out"
  setsid "$TARGET_BIN/python" bench/sse-target.py --port 0 --chunks "$CHUNKS" \
    --first-ms "$FIRST_MS" --gap-ms "$1" >"$TMP/target.out" 2>&1 &
  TARGET_PID=$!
  for _ in $(seq 1 100); do grep -q listening "$TMP/target.out" && break; sleep 0.1; done
  URL=$(grep -o 'http://[0-9.:]*' "$TMP/target.out")
}

# One tool's run: NAME CONC SECONDS TAG. The target's counters are reset first and read after;
# the tool's process tree is measured by bench/tree-usage.py.
run() {
  local name=$1 conc=$2 secs=$3 tag=$4
  local out="$TMP/$tag"
  curl -sf -X POST "$URL/stats/reset" >/dev/null
  case "$name" in
    ratecheck)
      python3 bench/tree-usage.py "$out.usage.json" "$BIN" load "$URL" --model bench-model \
        --concurrency "$conc" --stream-fraction 1 --max-tokens "$CHUNKS" --duration "${secs}s" \
        --format json -o "$out.report.json" >/dev/null 2>"$out.err" || true
      ;;
    guidellm)
      python3 bench/tree-usage.py "$out.usage.json" "$GL_BIN/guidellm" run \
        --backend "kind=openai_http,target=$URL,model=bench-model" \
        --profile "kind=concurrent,streams=$conc" \
        --constraint "kind=max_duration,seconds=$secs" \
        --tokenizer "kind=huggingface_auto,model=$TOKENIZER" \
        --data "kind=synthetic_text,prompt_tokens=16,output_tokens=$CHUNKS" \
        --output "kind=json,path=$out.report.json" --disable-console >"$out.err" 2>&1 || true
      ;;
  esac
  curl -sf "$URL/stats" >"$out.target.json"
}

start_target "$GAP_MS"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="ratecheck guidellm"; else order="guidellm ratecheck"; fi
  for tool in $order; do
    run "$tool" 1 "$SECONDS_EACH" "$tool.1.$r"
    run "$tool" "$CONC" "$SECONDS_EACH" "$tool.$CONC.$r"
    run "$tool" "$CONC" $((2 * SECONDS_EACH)) "$tool.$CONC.$r.long"
  done
done
if [ "$BIG" -gt 0 ]; then
  start_target "$BIG_GAP_MS"
  run ratecheck 1 "$BIG_SECONDS" "big.1"
  run ratecheck "$BIG" "$BIG_SECONDS" "big.$BIG"
  run ratecheck "$BIG" $((2 * BIG_SECONDS)) "big.$BIG.long"
fi
stop_target

python3 bench/streams-summary.py "$TMP" "$ROUNDS" "$CONC" "$BIG" \
  "chunks=$CHUNKS first_ms=$FIRST_MS gap_ms=$GAP_MS seconds=$SECONDS_EACH big_gap_ms=$BIG_GAP_MS big_seconds=$BIG_SECONDS"
