#!/usr/bin/env bash
# Re-runs the curl measurements recorded in MEASURED.md against real LiteLLM releases
# (installed by setup.sh). Every proxy and upstream binds 127.0.0.1 on a free port, is booted
# like tests/it/litellm_e2e.rs boots it, and is stopped by its own PID (process group).
#
#   tests/litellm/measure.sh [EXPERIMENT...]     default: all six, in this order
#     matrix    config.yaml on 1.90.0, 1.106.12, 1.110.2: chat, streaming chat, /v1/messages
#     failing   config-failing.yaml on 1.106.12, 1.110.2, 1.90.0: ok, failing, ok, ...
#     cooldown  config-failing.yaml without disable_cooldowns, on the three (the 404 model
#               then gets the router's 429 "No deployments available")
#     retries   config-failing.yaml without num_retries, on 1.106.12
#     shapes    config.yaml and config-fixed.yaml on the three: 8 endpoint/mode shapes each
#     legacy    config-legacy-upstream.yaml + upstream.py on 1.106.12, 1.110.2, 1.90.0,
#               legacy v1 limiter, then v3 for comparison
#
# Prints each command and the relevant response headers (status line first). Needs curl.
# RATECHECK_MEASURE_VERSIONS="1.106.12" limits the releases.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VERSIONS=(${RATECHECK_MEASURE_VERSIONS:-1.90.0 1.106.12 1.110.2})
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ratecheck-measure.XXXXXX")"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 40); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

# boot VERSION CONFIG [DIR] [NAME=VALUE...]: sets URL and PROXY_PID; waits at most 120 s.
boot() {
  local version="$1" config="$2" dir="${3:-$HERE}" bin port master start
  shift 3 || shift $#
  bin="$("$HERE/setup.sh" --print-bin "$version")"
  port="$(free_port)"
  master="sk-master-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  LOG="$WORK/litellm-$version-$port.log"
  # setsid makes the proxy its own process group, so stop_pid ends its children too.
  (cd "$dir" && exec env -u DATABASE_URL -u REDIS_HOST -u REDIS_URL \
    LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False LITELLM_MASTER_KEY="$master" \
    NO_PROXY=127.0.0.1,localhost "$@" \
    setsid "$bin" --config "$config" --host 127.0.0.1 --port "$port" --num_workers 1 \
    >"$LOG" 2>&1 </dev/null) &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  URL="http://127.0.0.1:$port"
  start=$SECONDS
  until curl -sf --max-time 2 "$URL/health/liveliness" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge 120 ] || ! kill -0 "$PROXY_PID" 2>/dev/null; then
      echo "litellm $version did not become healthy; its log:" >&2
      tail -40 "$LOG" >&2
      exit 1
    fi
    sleep 0.25
  done
  echo "# litellm $version, $config${*:+ with $*}: healthy after $((SECONDS - start)) s"
}

start_upstream() {
  local port
  port="$(free_port)"
  python3 "$HERE/upstream.py" "$port" >"$WORK/upstream.log" 2>&1 &
  UPSTREAM_PID=$!
  PIDS+=("$UPSTREAM_PID")
  local i
  for i in $(seq 40); do
    curl -sf --max-time 2 "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1 && break
    sleep 0.25
  done
  UPSTREAM_BASE="http://127.0.0.1:$port/v1"
  echo "# upstream.py on $UPSTREAM_BASE"
}

RELEVANT='^(HTTP/|content-type:|retry-after:|x-ratelimit-|llm_provider-x-ratelimit-|llm_provider-x-test-upstream:|x-litellm-version:|x-litellm-key-(rpm|tpm)-limit:|x-litellm-key-remaining-|x-litellm-attempted-retries:|rate_limit_type:)'

# req KEY PATH BODY [stream]: prints the command, the relevant headers and a body summary.
req() {
  local key="$1" path="$2" body="$3" mode="${4:-}" out
  local args=(-si --max-time 30 "$URL$path" -H "Authorization: Bearer $key"
    -H 'content-type: application/json' -d "$body")
  [ "$mode" = stream ] && args=(-N "${args[@]}")
  echo "\$ curl -si${mode:+ -N} --max-time 30 \$URL$path -H 'Authorization: Bearer $key' -H 'content-type: application/json' -d '$body'"
  out="$(curl "${args[@]}" | tr -d '\r')" || true
  awk 'NR == 1, /^$/' <<<"$out" | grep -i -E "$RELEVANT" || true
  if grep -q -i '^content-type: text/event-stream' <<<"$out"; then
    echo "(body: $(grep -c '^data: ' <<<"$out") data lines, the last: $(grep '^data: ' <<<"$out" | tail -1 | cut -c1-60))"
  else
    echo "(body: $(awk 'f; /^$/ { f = 1 }' <<<"$out" | head -c 400))"
  fi
  echo
}

chat='{"model":"ratecheck-model","messages":[{"role":"user","content":"hi"}],"max_tokens":20}'
chat_stream='{"model":"ratecheck-model","messages":[{"role":"user","content":"hi"}],"max_tokens":20,"stream":true}'
messages='{"model":"ratecheck-model","messages":[{"role":"user","content":"hi"}],"max_tokens":20}'
failing='{"model":"ratecheck-failing","messages":[{"role":"user","content":"hi"}],"max_tokens":20}'
failing_stream='{"model":"ratecheck-failing","messages":[{"role":"user","content":"hi"}],"max_tokens":20,"stream":true}'
failing_404='{"model":"ratecheck-failing-404","messages":[{"role":"user","content":"hi"}],"max_tokens":20}'
up_chat='{"model":"upstream-model","messages":[{"role":"user","content":"hi"}],"max_tokens":20}'
up_stream='{"model":"upstream-model","messages":[{"role":"user","content":"hi"}],"max_tokens":20,"stream":true}'

matrix() {
  local v key
  for v in "${VERSIONS[@]}"; do
    boot "$v" config.yaml
    key="sk-rc-1000-1000000-matrix$RANDOM"
    req "$key" /v1/chat/completions "$chat"
    req "$key" /v1/chat/completions "$chat_stream" stream
    req "$key" /v1/messages "$messages"
    echo "# the control after the three: remaining-requests must be 996"
    req "$key" /v1/chat/completions "$chat"
    stop_pid "$PROXY_PID"
  done
}

failing() {
  local v key
  for v in 1.106.12 1.110.2 1.90.0; do
    [[ " ${VERSIONS[*]} " == *" $v "* ]] || continue
    boot "$v" config-failing.yaml
    key="sk-rc-1000-1000000-failing$RANDOM"
    req "$key" /v1/chat/completions "$chat"
    req "$key" /v1/chat/completions "$failing"
    echo "# the second ok: remaining-requests 2 below the first"
    req "$key" /v1/chat/completions "$chat"
    echo "# the failing model streamed, then the 404 model twice (no cooldown: 404 both times)"
    req "$key" /v1/chat/completions "$failing_stream" stream
    req "$key" /v1/chat/completions "$failing_404"
    req "$key" /v1/chat/completions "$failing_404"
    echo "# the control: 6 requests since the first ok, so 993"
    req "$key" /v1/chat/completions "$chat"
    stop_pid "$PROXY_PID"
  done
}

# variant NAME SED: config-failing.yaml edited by SED, with the modules beside it, in $WORK/NAME.
variant() {
  local dir="$WORK/$1"
  mkdir -p "$dir"
  cp "$HERE"/ratecheck_auth.py "$HERE"/ratecheck_llm.py "$HERE"/ratecheck_failing_llm.py "$dir/"
  sed "$2" "$HERE/config-failing.yaml" >"$dir/config.yaml"
  echo "# config-failing.yaml with sed '$2'; its router_settings now:"
  sed -n '/^router_settings:/,/^[a-z]/p' "$dir/config.yaml" | sed '$d; s/^/#   /'
  VARIANT_DIR="$dir"
}

cooldown() {
  local v key i
  variant cooldown '/disable_cooldowns/d'
  for v in 1.106.12 1.110.2 1.90.0; do
    [[ " ${VERSIONS[*]} " == *" $v "* ]] || continue
    boot "$v" config.yaml "$VARIANT_DIR"
    key="sk-rc-1000-1000000-cooldown$RANDOM"
    req "$key" /v1/chat/completions "$chat"
    echo "# six 500s in a row from the single-deployment model, then a seventh:"
    for i in 1 2 3 4 5 6; do
      curl -s -o /dev/null -w '%{http_code} ' --max-time 30 "$URL/v1/chat/completions" \
        -H "Authorization: Bearer $key" -H 'content-type: application/json' -d "$failing" || true
    done
    echo
    req "$key" /v1/chat/completions "$failing"
    echo "# the 404 model, three times:"
    req "$key" /v1/chat/completions "$failing_404"
    req "$key" /v1/chat/completions "$failing_404"
    req "$key" /v1/chat/completions "$failing_404"
    echo "# the control: 11 requests since the first ok, so 988"
    req "$key" /v1/chat/completions "$chat"
    stop_pid "$PROXY_PID"
  done
}

retries() {
  local key
  variant retries '/num_retries/d'
  boot 1.106.12 config.yaml "$VARIANT_DIR"
  key="sk-rc-1000-1000000-retries$RANDOM"
  req "$key" /v1/chat/completions "$chat"
  echo "# the failing model with the router's default retries: status and time"
  curl -s -o /dev/null -w '%{http_code} in %{time_total} s\n' --max-time 30 "$URL/v1/chat/completions" \
    -H "Authorization: Bearer $key" -H 'content-type: application/json' -d "$failing" || true
  echo "# the same with the request header x-litellm-num-retries: 0"
  curl -s -o /dev/null -w '%{http_code} in %{time_total} s\n' --max-time 30 "$URL/v1/chat/completions" \
    -H "Authorization: Bearer $key" -H 'content-type: application/json' -H 'x-litellm-num-retries: 0' \
    -d "$failing" || true
  echo "# the control: 3 requests since the first ok (retries are not counted), so 996"
  req "$key" /v1/chat/completions "$chat"
  stop_pid "$PROXY_PID"
}

# shapes: one line per endpoint and mode, on config.yaml (as released) and config-fixed.yaml
# (the workaround callback): status, content type, how many x-ratelimit-api_key-* headers,
# whether the control x-litellm-key-rpm-limit is there, and remaining-requests.
shapes() {
  local v config key path mode body head
  for v in "${VERSIONS[@]}"; do
    for config in config.yaml config-fixed.yaml; do
      boot "$v" "$config"
      key="sk-rc-1000-1000000-shapes$RANDOM"
      for mode in false true; do
        for path in chat/completions completions responses messages; do
          case "$path" in
            completions) body="{\"model\":\"ratecheck-model\",\"prompt\":\"hi\",\"max_tokens\":20,\"stream\":$mode}" ;;
            responses) body="{\"model\":\"ratecheck-model\",\"input\":\"hi\",\"max_output_tokens\":20,\"stream\":$mode}" ;;
            *) body="{\"model\":\"ratecheck-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":20,\"stream\":$mode}" ;;
          esac
          head="$(curl -si -N --max-time 30 "$URL/v1/$path" -H "Authorization: Bearer $key" \
            -H 'content-type: application/json' -d "$body" | tr -d '\r' | awk 'NR == 1, /^$/')" || true
          printf '%-9s %-12s stream=%-5s /v1/%-16s %s | %s | api_key headers: %s | key-rpm-limit: %s | remaining-requests: %s\n' \
            "$v" "${config%.yaml}" "$mode" "$path" "$(head -1 <<<"$head" | cut -d' ' -f2)" \
            "$(grep -i '^content-type:' <<<"$head" | cut -d' ' -f2 | tr -d ';')" \
            "$(grep -c -i '^x-ratelimit-api_key-' <<<"$head" || true)" \
            "$(grep -q -i '^x-litellm-key-rpm-limit:' <<<"$head" && echo yes || echo no)" \
            "$(grep -i '^x-ratelimit-api_key-remaining-requests:' <<<"$head" | cut -d' ' -f2 || true)"
        done
      done
      stop_pid "$PROXY_PID"
    done
  done
}

legacy() {
  local v key limiter
  start_upstream
  for v in 1.106.12 1.110.2 1.90.0; do
    [[ " ${VERSIONS[*]} " == *" $v "* ]] || continue
    for limiter in legacy v3; do
      if [ "$limiter" = legacy ]; then
        boot "$v" config-legacy-upstream.yaml "$HERE" RATECHECK_UPSTREAM_BASE="$UPSTREAM_BASE" \
          LEGACY_MULTI_INSTANCE_RATE_LIMITING=true
      else
        boot "$v" config-legacy-upstream.yaml "$HERE" RATECHECK_UPSTREAM_BASE="$UPSTREAM_BASE"
      fi
      # v1 counts in wall-clock minutes and reads its counters again after the call: a
      # request that straddles a minute boundary gets no proxy headers. Start early in a minute.
      if [ "$limiter" = legacy ] && [ "$((10#$(date +%S)))" -ge 50 ]; then
        sleep $((61 - 10#$(date +%S)))
      fi
      key="sk-rc-500-100000-$limiter$RANDOM"
      req "$key" /v1/chat/completions "$up_chat"
      req "$key" /v1/chat/completions "$up_stream" stream
      req "$key" /v1/chat/completions "$up_chat"
      stop_pid "$PROXY_PID"
    done
  done
  stop_pid "$UPSTREAM_PID"
}

for experiment in "${@:-matrix failing cooldown retries shapes legacy}"; do
  for e in $experiment; do
    case "$e" in
      matrix | failing | cooldown | retries | shapes | legacy) echo "## $e"; "$e" ;;
      *) echo "measure: unknown experiment $e" >&2; exit 2 ;;
    esac
  done
done
rm -rf "$WORK"
