#!/usr/bin/env bash
# The whole test suite, as the README documents it: installs the pinned LiteLLM proxy into a
# virtualenv (cached under ~/.cache/ratecheck) for the end-to-end tests, then runs cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
./tests/litellm/setup.sh
export RATECHECK_LITELLM="${RATECHECK_LITELLM:-$(./tests/litellm/setup.sh --print-bin)}"
cargo test --all-targets "$@"
