#!/usr/bin/env bash
# Installs litellm[proxy] at the pinned version into a virtualenv, once, for the end-to-end tests.
#
#   tests/litellm/setup.sh              install if missing (about 30 s, 750 MB)
#   tests/litellm/setup.sh --print-bin  print the path of the `litellm` executable
#
# RATECHECK_LITELLM_VENV overrides the location; LITELLM_VERSION overrides the version.
set -euo pipefail
VERSION="${LITELLM_VERSION:-1.106.12}"
if [ "$VERSION" = "1.107.0" ]; then
  echo "setup: refusing litellm 1.107.0: that release was reported compromised" >&2
  exit 2
fi
# Importing litellm would otherwise try to download its cost map, which fails offline.
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False
VENV="${RATECHECK_LITELLM_VENV:-$HOME/.cache/ratecheck/litellm-$VERSION}"
if [ "${1:-}" = "--print-bin" ]; then
  echo "$VENV/bin/litellm"
  exit 0
fi
if "$VENV/bin/python" -c "import litellm.proxy.hooks.parallel_request_limiter_v3" 2>/dev/null \
   && [ -x "$VENV/bin/litellm" ]; then
  exit 0
fi
PY="${PYTHON:-$(command -v python3 || true)}"
if [ -z "$PY" ]; then
  echo "setup: python3 is required for the LiteLLM end-to-end tests" >&2
  exit 1
fi
echo "setup: installing litellm[proxy]==$VERSION into $VENV" >&2
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$VERSION"
"$VENV/bin/python" -c "import litellm.proxy.hooks.parallel_request_limiter_v3"
