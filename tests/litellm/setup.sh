#!/usr/bin/env bash
# Installs the LiteLLM proxy releases of the end-to-end tests, each into its own cached
# virtualenv, once (a release that already imports is skipped).
#
#   tests/litellm/setup.sh                      install 1.80.0, 1.90.0, 1.106.12 and 1.110.2 if missing
#   tests/litellm/setup.sh VERSION...           install only these
#   tests/litellm/setup.sh --print-bin          print the `litellm` executable of 1.106.12
#   tests/litellm/setup.sh --print-bin VERSION  print the `litellm` executable of VERSION
#   tests/litellm/setup.sh --list               print "VERSION EXECUTABLE" for the four releases
#
# About 40 s and 500-800 MB per release on a cold machine; the four install side by side.
#
# How each is installed (see MEASURED.md):
#   1.80.0, 1.90.0, 1.106.12  pip install "litellm[proxy]==VERSION"
#   1.110.2           its [proxy] extra does not resolve on the registry (it pins litellm-proxy,
#                     litellm-proxy-extras and litellm-enterprise versions that are not
#                     published), so: the packages of the 1.106.12 proxy venv (its `pip freeze`
#                     minus litellm, kept in requirements-1.106.12-freeze.txt), then
#                     `pip install --no-deps litellm==1.110.2`, then semver and backports-zstd
#                     (without semver the proxy stops at boot). Its `bin/litellm` (entry point
#                     litellm_cli.main:proxy_server) is used like the others.
#
# Environment:
#   RATECHECK_LITELLM_HOME  where the venvs live (default ~/.cache/ratecheck): litellm-VERSION/
#   LITELLM_VERSION         the default release (1.106.12); when set, a bare `setup.sh` installs
#                           only that release
#   RATECHECK_LITELLM_VENV  the venv of the default release, instead of the one under the home
#   PYTHON                  the interpreter that creates the venvs (default python3)
set -euo pipefail

RELEASES=(1.80.0 1.90.0 1.106.12 1.110.2)
HERE="$(cd "$(dirname "$0")" && pwd)"
DEFAULT="${LITELLM_VERSION:-1.106.12}"
HOME_DIR="${RATECHECK_LITELLM_HOME:-$HOME/.cache/ratecheck}"
# Importing litellm would otherwise try to download its cost map, which fails offline.
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False
export PIP_DISABLE_PIP_VERSION_CHECK=1

refuse() {
  if [ "$1" = "1.107.0" ]; then
    echo "setup: refusing litellm 1.107.0: that release was reported compromised" >&2
    exit 2
  fi
  if ! [[ "$1" =~ ^[0-9]+\.[0-9]+\.[0-9]+([.a-z0-9]*)$ ]]; then
    echo "setup: not a litellm version: $1" >&2
    exit 2
  fi
}

venv_of() {
  if [ "$1" = "$DEFAULT" ] && [ -n "${RATECHECK_LITELLM_VENV:-}" ]; then
    echo "$RATECHECK_LITELLM_VENV"
  else
    echo "$HOME_DIR/litellm-$1"
  fi
}

# Releases whose [proxy] extra does not resolve: built on the 1.106.12 venv's packages.
derived() {
  case "$1" in
    1.110.2) return 0 ;;
    *) return 1 ;;
  esac
}

# installed VENV VERSION: the release imports, with the v3 limiter, and its CLI is there.
# A derived release must also have finished (its marker is written last).
installed() {
  local venv="$1" version="$2" extra=""
  [ -x "$venv/bin/litellm" ] || return 1
  if derived "$version"; then
    [ "$(cat "$venv/.ratecheck-installed" 2>/dev/null)" = "$version" ] || return 1
    extra="semver"
  fi
  "$venv/bin/python" - "$version" "$extra" 2>/dev/null <<'EOF'
import importlib
import sys
from importlib.metadata import version

import litellm.proxy.hooks.parallel_request_limiter_v3  # noqa: F401  (the v3 limiter)

for module in filter(None, sys.argv[2].split(",")):
    importlib.import_module(module)
sys.exit(0 if version("litellm") == sys.argv[1] else 1)
EOF
}

pip_in() {
  local venv="$1"
  shift
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

# install VERSION: into its venv, unless it is already there; says how long it took.
install() {
  local version="$1" venv start py
  venv="$(venv_of "$version")"
  if installed "$venv" "$version"; then
    return 0
  fi
  start=$SECONDS
  py="${PYTHON:-$(command -v python3 || true)}"
  if [ -z "$py" ]; then
    echo "setup: python3 is required for the LiteLLM end-to-end tests" >&2
    exit 1
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
  if derived "$version"; then
    echo "setup: installing litellm $version into $venv (1.106.12's packages, then litellm --no-deps)" >&2
    pip_in "$venv" --no-deps -r "$HERE/requirements-1.106.12-freeze.txt"
    pip_in "$venv" --no-deps "litellm==$version"
    pip_in "$venv" "semver>=3.0.4,<4" "backports-zstd>=1.0.0,<2.0"
    "$venv/bin/python" -c "import semver"
  else
    echo "setup: installing litellm[proxy]==$version into $venv" >&2
    pip_in "$venv" "litellm[proxy]==$version"
  fi
  "$venv/bin/python" -c "import litellm.proxy.hooks.parallel_request_limiter_v3"
  "$venv/bin/litellm" --help >/dev/null
  echo "$version" >"$venv/.ratecheck-installed"
  echo "setup: litellm $version installed in $((SECONDS - start)) s" >&2
}

# install_all VERSION...: side by side, each with its output prefixed by its version.
install_all() {
  local v todo=() pids=()
  for v in "$@"; do
    refuse "$v"
    if [[ " ${todo[*]} " != *" $v "* ]]; then
      todo+=("$v")
    fi
  done
  local start=$SECONDS failed=0
  for v in "${todo[@]}"; do
    (install "$v" 2>&1 | sed -u "s/^/[$v] /" >&2) &
    pids+=("$!")
  done
  for v in "${pids[@]}"; do
    wait "$v" || failed=1
  done
  if [ "$failed" != 0 ]; then
    echo "setup: an install failed (see above)" >&2
    exit 1
  fi
  if [ $((SECONDS - start)) -gt 10 ]; then
    echo "setup: done in $((SECONDS - start)) s" >&2
  fi
}

case "${1:-}" in
  --print-bin)
    version="${2:-$DEFAULT}"
    refuse "$version"
    echo "$(venv_of "$version")/bin/litellm"
    ;;
  --list)
    for v in "${RELEASES[@]}"; do
      echo "$v $(venv_of "$v")/bin/litellm"
    done
    ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    ;;
  -*)
    echo "setup: unknown option $1 (try --help)" >&2
    exit 2
    ;;
  "")
    if [ -n "${LITELLM_VERSION:-}" ]; then
      install_all "$LITELLM_VERSION"
    else
      install_all "${RELEASES[@]}"
    fi
    ;;
  *)
    install_all "$@"
    ;;
esac
