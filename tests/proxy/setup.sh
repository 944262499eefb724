#!/usr/bin/env bash
# Installs Debian's tinyproxy for the proxy tests, unless it is already on PATH (or
# RATECHECK_TINYPROXY names it).
# The tests start their own instance on a free loopback port with their own settings and stop
# it by PID; nothing here starts a service.
#
#   tests/proxy/setup.sh          install if missing
#   tests/proxy/setup.sh --print-bin
set -euo pipefail
BIN="${RATECHECK_TINYPROXY:-$(command -v tinyproxy || echo /usr/bin/tinyproxy)}"
if [ "${1:-}" = "--print-bin" ]; then
  echo "$BIN"
  exit 0
fi
exec "$(dirname "$0")/../debian-package.sh" "$BIN" tinyproxy tinyproxy
