#!/usr/bin/env bash
# ratecheck load against oha and wrk on a target that is none of theirs: nginx (Debian, one
# worker, loopback, bench/nginx.conf) serving a static chat completion. ROUNDS interleaved
# rounds of wrk, oha and ratecheck, each SECONDS long at CONC connections; requests counted on
# the server (nginx's stub_status) over each tool's run, with each tool's peak RSS and its CPU
# (user + system) per request. Prints the medians and the per-round ratios.
#
#   bench/load-vs-nginx.sh [ROUNDS] [SECONDS]     (default 3 rounds of 5 s; CONC=16)
#
# nginx and wrk come from Debian (tests/debian-package.sh installs them); oha from $OHA, else
# PATH, else it is installed once into ~/.cache/ratecheck/oha (cargo install oha).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
SECONDS_EACH="${2:-5}"
CONC="${CONC:-16}"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/ratecheck"
tests/debian-package.sh wrk wrk
OHA="${OHA:-$(command -v oha || true)}"
if [ -z "$OHA" ]; then
  OHA="$HOME/.cache/ratecheck/oha/bin/oha"
  [ -x "$OHA" ] || cargo install oha --locked --root "$HOME/.cache/ratecheck/oha"
fi
# shellcheck source=bench/nginx-up.sh
. bench/nginx-up.sh
BODY='{"model":"m","messages":[{"role":"user","content":"Reply with OK."}],"max_tokens":16}'

# One tool's round: server-side requests per second over its run, and its peak RSS in MiB.
round() {
  local name=$1; shift
  local before after t0 t1
  before=$(served)
  t0=$(date +%s%N)
  /usr/bin/time -f "%M %U %S" -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>&1 || true
  t1=$(date +%s%N)
  after=$(served)
  # stub_status counts its own requests too: one per reading.
  python3 -c "print(($after - $before - 1) / (($t1 - $t0) / 1e9))" >>"$TMP/$name.rps"
  read -r kib user system < <(tail -1 "$TMP/$name.time")
  echo $(( kib / 1024 )) >>"$TMP/$name.mib"
  # The tool's own CPU (user + system) per request served.
  python3 -c "print(($user + $system) * 1e6 / ($after - $before - 1))" >>"$TMP/$name.cpu"
}

for _ in $(seq 1 "$ROUNDS"); do
  round wrk wrk -t2 -c"$CONC" -d"${SECONDS_EACH}s" -s bench/wrk-post.lua "$URL/v1/chat/completions"
  round oha "$OHA" -c "$CONC" -z "${SECONDS_EACH}s" --no-tui -m POST -H "content-type: application/json" \
    -d "$BODY" "$URL/v1/chat/completions"
  round ratecheck "$BIN" load "$URL" --model m --concurrency "$CONC" --duration "${SECONDS_EACH}s" --format json
done

python3 - "$TMP" "$CONC" "$SECONDS_EACH" <<'PY'
import statistics, sys
tmp, conc, secs = sys.argv[1], sys.argv[2], sys.argv[3]
def read(name, ext):
    return [float(x) for x in open(f"{tmp}/{name}.{ext}").read().split()]
rps = {t: read(t, "rps") for t in ("wrk", "oha", "ratecheck")}
mib = {t: read(t, "mib") for t in ("wrk", "oha", "ratecheck")}
cpu = {t: read(t, "cpu") for t in ("wrk", "oha", "ratecheck")}
print(f"nginx (1 worker, loopback), {conc} connections, {len(rps['wrk'])} interleaved rounds of {secs} s, counted by nginx:")
for t in ("wrk", "oha", "ratecheck"):
    v = rps[t]
    print(f"  {t:9} {statistics.median(v):>9,.0f} req/s (min {min(v):,.0f}, max {max(v):,.0f}); peak RSS {statistics.median(mib[t]):.0f} MiB; CPU {statistics.median(cpu[t]):.1f} us per request")
for peer in ("oha", "wrk"):
    ratios = [r / p for r, p in zip(rps["ratecheck"], rps[peer])]
    print(f"  ratecheck/{peer}: {statistics.median(ratios):.2f}x (per round {min(ratios):.2f}-{max(ratios):.2f})")
PY
