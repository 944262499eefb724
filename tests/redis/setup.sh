#!/usr/bin/env bash
# Installs Debian's redis-server for the fleet tests, unless it is already on PATH (or
# RATECHECK_REDIS names it).
# The tests start their own instance on a free loopback port with their own settings and stop
# it by PID; nothing here starts a service.
#
#   tests/redis/setup.sh          install if missing
#   tests/redis/setup.sh --print-bin
set -euo pipefail
BIN="${RATECHECK_REDIS:-$(command -v redis-server || echo /usr/bin/redis-server)}"
if [ "${1:-}" = "--print-bin" ]; then
  echo "$BIN"
  exit 0
fi
exec "$(dirname "$0")/../debian-package.sh" "$BIN" redis-server redis-server
