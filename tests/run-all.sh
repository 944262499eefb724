#!/usr/bin/env bash
# The whole test suite, as the README documents it: installs the pinned LiteLLM proxy into a
# virtualenv (cached under ~/.cache/ratecheck) for the end-to-end tests, the JUnit schema with
# its validator for the report test, Debian's tinyproxy for the proxy tests, redis-server
# for the fleet tests, Debian's prometheus (with promtool) for the exporter tests,
# kubernetes-validate for the Kubernetes manifests test and curl for the
# evidence tests, then runs cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
./tests/litellm/setup.sh
./tests/junit/setup.sh
./tests/proxy/setup.sh
./tests/redis/setup.sh
./tests/prometheus/setup.sh
./tests/kubernetes/setup.sh
./tests/debian-package.sh curl curl
export RATECHECK_LITELLM="${RATECHECK_LITELLM:-$(./tests/litellm/setup.sh --print-bin)}"
eval "$(./tests/junit/setup.sh --env | sed 's/^/export /')"
eval "$(./tests/kubernetes/setup.sh --env | sed 's/^/export /')"
export RATECHECK_PROMETHEUS="${RATECHECK_PROMETHEUS:-$(./tests/prometheus/setup.sh --print-bin)}"
cargo test --all-targets "$@"
