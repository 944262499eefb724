#!/usr/bin/env bash
# Installs Debian's tinyproxy, the real HTTP proxy the proxy tests route ratecheck through,
# unless it is already on PATH (or RATECHECK_TINYPROXY names it). The tests start their own
# instance on a free loopback port with their own configuration; nothing here starts a service.
#
#   tests/proxy/setup.sh          install if missing
#   tests/proxy/setup.sh --print-bin
set -euo pipefail
BIN="${RATECHECK_TINYPROXY:-$(command -v tinyproxy || echo /usr/bin/tinyproxy)}"
if [ "${1:-}" = "--print-bin" ]; then
  echo "$BIN"
  exit 0
fi
if [ -x "$BIN" ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "setup: installing tinyproxy (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends tinyproxy >/dev/null ||
  { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends tinyproxy >/dev/null; }
# The package may start a system-wide instance on 8888; the tests do not use it.
if command -v service >/dev/null && service tinyproxy status >/dev/null 2>&1; then
  $SUDO service tinyproxy stop >/dev/null 2>&1 || true
fi
