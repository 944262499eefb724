#!/usr/bin/env bash
# Installs Debian's prometheus (with promtool) for the exporter tests, unless it is already on
# PATH (or RATECHECK_PROMETHEUS names it).
# The tests start their own server on a free loopback port with their own configuration and
# storage in a temporary folder, and stop it by PID; nothing here starts a service, and the
# service the package starts is stopped.
#
#   tests/prometheus/setup.sh          install if missing
#   tests/prometheus/setup.sh --print-bin
set -euo pipefail
BIN="${RATECHECK_PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}"
if [ "${1:-}" = "--print-bin" ]; then
  echo "$BIN"
  exit 0
fi
exec "$(dirname "$0")/../debian-package.sh" "$BIN" prometheus prometheus
