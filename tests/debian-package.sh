#!/usr/bin/env bash
# Installs one Debian package for the tests, unless its program is already there, and stops the
# service the package may start (the tests run their own instance on a free loopback port).
#
#   tests/debian-package.sh PROGRAM PACKAGE [SERVICE]
set -euo pipefail
PROGRAM="$1" PACKAGE="$2" SERVICE="${3:-}"
if command -v "$PROGRAM" >/dev/null || [ -x "$PROGRAM" ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "setup: installing $PACKAGE (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "$PACKAGE" >/dev/null ||
  { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "$PACKAGE" >/dev/null; }
if [ -n "$SERVICE" ] && command -v service >/dev/null && service "$SERVICE" status >/dev/null 2>&1; then
  $SUDO service "$SERVICE" stop >/dev/null 2>&1 || true
fi
