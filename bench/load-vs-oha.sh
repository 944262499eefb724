#!/usr/bin/env bash
# ratecheck load against oha (the anchor named in the load issue), same target, same run:
#   1. non-streaming throughput and peak RSS at the same concurrency (closed loop), RUNS pairs
#      run back to back, medians and the median of the per-pair ratios;
#   2. peak RSS after 1,000,000 requests;
#   3. open-loop accuracy: 2,000 requests/second for 30 s, achieved against target;
#   4. SSE consumption against a raw read of the same bytes (cargo bench --bench sse).
#
#   bench/load-vs-oha.sh [RUNS]      (default 5; about 3 minutes)
#
# The target is `ratecheck mock` with SSE pacing off and limits out of reach. oha comes from
# $OHA, else PATH, else it is installed once into ~/.cache/ratecheck/oha (cargo install oha).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
CONC="${CONC:-50}"
N="${N:-50000}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
OHA="${OHA:-$(command -v oha || true)}"
if [ -z "$OHA" ]; then
  OHA="$HOME/.cache/ratecheck/oha/bin/oha"
  [ -x "$OHA" ] || cargo install oha --locked --root "$HOME/.cache/ratecheck/oha"
fi
MOCK_PID=""
TMP=$(mktemp -d)
cleanup() {
  if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
coproc MOCK { exec "$BIN" mock --port 0 --profile openai --rpm 1000000000000 --tpm 1000000000000000 --chunk-delay 0ms; }
MOCK_PID=$MOCK_PID
read -r line <&"${MOCK[0]}"
URL=$(grep -o 'http://[0-9.:]*' <<<"$line")
BODY='{"model":"mock-model","messages":[{"role":"user","content":"Reply with OK. R"}],"max_tokens":16}'

stats() { python3 -c '
import sys, statistics
v = [float(x) for x in sys.argv[2:]]
d = 2 if max(v) < 10 else 1
print(f"{sys.argv[1]}: median {statistics.median(v):.{d}f} (min {min(v):.{d}f}, max {max(v):.{d}f}, n={len(v)})")' "$@"; }

rc_rps=(); oha_rps=(); rc_rss=(); oha_rss=(); ratios=()
for _ in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "%M" -o "$TMP"/oha.rss "$OHA" -c "$CONC" -n "$N" --no-tui -m POST \
    -H "content-type: application/json" -d "$BODY" --output-format json \
    "$URL/v1/chat/completions" > "$TMP"/oha.json
  /usr/bin/time -f "%M" -o "$TMP"/rc.rss "$BIN" load "$URL" --model mock-model \
    --concurrency "$CONC" --requests "$N" --format json > "$TMP"/rc.json || true
  o=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["summary"]["requestsPerSec"])' "$TMP/oha.json")
  r=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["schedule"]["achieved_rate"])' "$TMP/rc.json")
  oha_rps+=("$o"); rc_rps+=("$r"); ratios+=("$(python3 -c "print($r / $o)")")
  oha_rss+=("$(( $(tail -1 "$TMP"/oha.rss) / 1024 ))"); rc_rss+=("$(( $(tail -1 "$TMP"/rc.rss) / 1024 ))")
done
echo "1. closed loop, $CONC connections, $N non-streaming requests, $RUNS pairs:"
stats "   ratecheck requests/s" "${rc_rps[@]}"
stats "   oha       requests/s" "${oha_rps[@]}"
stats "   ratio ratecheck/oha (per pair)" "${ratios[@]}"
stats "   ratecheck peak RSS MiB" "${rc_rss[@]}"
stats "   oha       peak RSS MiB" "${oha_rss[@]}"

[ "${ONLY_THROUGHPUT:-0}" = 1 ] && exit 0
/usr/bin/time -f "%M" -o "$TMP"/rc.rss "$BIN" load "$URL" --model mock-model \
  --concurrency "$CONC" --requests 1000000 --format json > "$TMP"/1m.json || true
echo "2. 1,000,000 requests: peak RSS $(( $(tail -1 "$TMP"/rc.rss) / 1024 )) MiB, $(python3 -c 'import json, sys; d=json.load(open(sys.argv[1])); print(d["requests"]["succeeded"], "succeeded at", round(d["schedule"]["achieved_rate"]), "req/s")' "$TMP/1m.json")"

"$BIN" load "$URL" --model mock-model --rate 2000 --duration 30s --format json > "$TMP"/open.json || true
python3 - "$TMP/open.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, lat = d["schedule"], d["latency"]["from_intended"]
err = (s["achieved_rate"] - 2000) / 2000 * 100
print("3. open loop 2000/s for 30 s: achieved %.1f/s (%+.2f %%), %d sent, late %d, dropped %d; "
      "latency from intended p50 %.2f ms, p99 %.2f ms"
      % (s["achieved_rate"], err, d["requests"]["logical"], s["late"], s["dropped_at_cap"],
         lat["p50"], lat["p99"]))
PY

echo "4. SSE:"
cargo bench --quiet --bench sse 2>/dev/null | sed 's/^/   /'
