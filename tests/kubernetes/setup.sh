#!/usr/bin/env bash
# Prepares what the Kubernetes manifests test validates with, once: `kubernetes-validate`, which
# bundles the JSON schemas of the Kubernetes API of each release, in a virtualenv. The test also
# renders the kustomization with kubectl's built-in kustomize (kubectl must be on PATH).
#
#   tests/kubernetes/setup.sh          install if missing
#   tests/kubernetes/setup.sh --env    print the variable the test reads
#
# RATECHECK_KUBERNETES_DIR overrides the location (default ~/.cache/ratecheck/kubernetes).
set -euo pipefail
VERSION=1.37.0
DIR="${RATECHECK_KUBERNETES_DIR:-$HOME/.cache/ratecheck/kubernetes}"
BIN="$DIR/venv/bin/kubernetes-validate"
if [ "${1:-}" = "--env" ]; then
  echo "RATECHECK_KUBERNETES_VALIDATE=$BIN"
  exit 0
fi
if ! command -v kubectl >/dev/null; then
  echo "setup: kubectl is required for the Kubernetes manifests test (it renders the kustomization)" >&2
  exit 1
fi
if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
PY="${PYTHON:-$(command -v python3 || true)}"
if [ -z "$PY" ]; then
  echo "setup: python3 is required for the Kubernetes manifests test" >&2
  exit 1
fi
echo "setup: installing kubernetes-validate $VERSION into $DIR" >&2
rm -rf "$DIR"
mkdir -p "$DIR"
"$PY" -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$VERSION"
"$BIN" --version >/dev/null
