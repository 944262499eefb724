#!/usr/bin/env bash
# Runs one split load test on the cluster kubectl points at, and exits with the merge's code.
#
#   deploy/kubernetes/run.sh
#
# Before the first run: build and push the image, set its name in kustomization.yaml, create the
# Secret `ratecheck-key` (README, "Beyond one machine"), and set the test in config.yaml.
#
# Each run: deletes the Jobs of the previous run, writes the ConfigMap `ratecheck-run` (a fresh
# test id, and a common start START_IN seconds ahead), applies the kustomization, waits for the
# load Job to end (complete, or failed with the shards that failed named), lets the merge Job
# run, prints its log and exits with its exit code, the whole test's verdict: 0; 1 for findings;
# 2 for a shard missing or of another test; 3 to 5 for a shard whose own run failed.
#
# Environment:
#   NAMESPACE   the namespace (default: kubectl's current one)
#   START_IN    seconds from now to the common start (default 120): long enough for every pod to
#               be scheduled and to pull the image, or the late shards start late (and say so)
#   WAIT        the longest wait, in seconds, for the load Job to end after the start
#               (default 3600), and for the merge Job (a tenth of it)
#
# Exits 2 when it cannot run the test: no Secret, or a Job that did not end in time.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
START_IN="${START_IN:-120}"
WAIT="${WAIT:-3600}"

k() {
  if [ -n "${NAMESPACE:-}" ]; then
    kubectl --namespace "$NAMESPACE" "$@"
  else
    kubectl "$@"
  fi
}

fail() {
  echo "run: $*" >&2
  exit 2
}

# wait_job NAME SECONDS: waits until the Job has ended; prints Complete or Failed.
wait_job() {
  local name="$1" deadline=$((SECONDS + $2)) state
  while [ "$SECONDS" -lt "$deadline" ]; do
    state="$(k get job "$name" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')"
    case " $state " in
      *" Complete "*) echo Complete && return 0 ;;
      *" Failed "*) echo Failed && return 0 ;;
    esac
    sleep 5
  done
  fail "job/$name did not end within $2 s: see kubectl describe job/$name"
}

[[ "$START_IN" =~ ^[0-9]+$ ]] || fail "START_IN is seconds: $START_IN"
[[ "$WAIT" =~ ^[0-9]+$ ]] || fail "WAIT is seconds: $WAIT"
k get secret ratecheck-key >/dev/null ||
  fail "no Secret ratecheck-key: printf %s \"\$RATECHECK_API_KEY\" | kubectl create secret generic ratecheck-key --from-file=api-key=/dev/stdin"

k delete job ratecheck-load ratecheck-merge --ignore-not-found --wait=true >/dev/null
now="$(date +%s)"
start_at=$((now + START_IN))
test_id="ratecheck-$(date -u +%Y%m%d-%H%M%S)"
k create configmap ratecheck-run \
  --from-literal=START_AT="$start_at" --from-literal=TEST_ID="$test_id" \
  --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -k "$HERE"
echo "run: test $test_id starts at $start_at (Unix seconds, in $START_IN s)" >&2

load="$(wait_job ratecheck-load $((START_IN + WAIT)))"
if [ "$load" = Failed ]; then
  failed="$(k get job ratecheck-load -o jsonpath='{.status.failedIndexes}')"
  echo "run: job/ratecheck-load failed: completion indexes ${failed:-?} (shard = index + 1;" \
    "kubectl logs -l batch.kubernetes.io/job-name=ratecheck-load --prefix); merging what the shards left" >&2
fi

k patch job ratecheck-merge --type=merge -p '{"spec":{"suspend":false}}' >/dev/null
wait_job ratecheck-merge $((WAIT / 10 + 60)) >/dev/null
k logs job/ratecheck-merge
code="$(k get pods -l batch.kubernetes.io/job-name=ratecheck-merge \
  -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')"
[ -n "$code" ] || fail "the merge pod has no exit code: see kubectl describe job/ratecheck-merge"
exit "$code"
