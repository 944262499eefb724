#!/usr/bin/env bash
# Installs Debian's redis-server, the shared store the fleet tests put two real LiteLLM
# instances on, unless it is already on PATH (or RATECHECK_REDIS names it). The tests start
# their own server on a free loopback port without persistence and stop it by PID; the
# packaged service is not used.
#
#   tests/redis/setup.sh          install if missing
#   tests/redis/setup.sh --print-bin
set -euo pipefail
BIN="${RATECHECK_REDIS:-$(command -v redis-server || echo /usr/bin/redis-server)}"
if [ "${1:-}" = "--print-bin" ]; then
  echo "$BIN"
  exit 0
fi
if [ -x "$BIN" ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "setup: installing redis-server (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends redis-server >/dev/null ||
  { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends redis-server >/dev/null; }
# The package may start its own service on 6379; the tests do not use it.
if command -v service >/dev/null && service redis-server status >/dev/null 2>&1; then
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
