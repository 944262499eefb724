#!/usr/bin/env bash
# Prepares what the JUnit report test validates against, once: the Jenkins/Surefire JUnit schema
# (junit-10.xsd, as shipped in pytest's source distribution, where pytest's own JUnit tests use
# it) and the `xmlschema` validator in a virtualenv.
#
#   tests/junit/setup.sh          install if missing
#   tests/junit/setup.sh --env    print the two variables the test reads
#
# RATECHECK_JUNIT_DIR overrides the location (default ~/.cache/ratecheck/junit).
set -euo pipefail
DIR="${RATECHECK_JUNIT_DIR:-$HOME/.cache/ratecheck/junit}"
XSD="$DIR/junit-10.xsd"
if [ "${1:-}" = "--env" ]; then
  echo "RATECHECK_JUNIT_PYTHON=$DIR/venv/bin/python"
  echo "RATECHECK_JUNIT_XSD=$XSD"
  exit 0
fi
if [ -f "$XSD" ] && "$DIR/venv/bin/python" -c "import xmlschema" 2>/dev/null; then
  exit 0
fi
PY="${PYTHON:-$(command -v python3 || true)}"
if [ -z "$PY" ]; then
  echo "setup: python3 is required for the JUnit schema test" >&2
  exit 1
fi
echo "setup: installing xmlschema and the JUnit schema into $DIR" >&2
rm -rf "$DIR"
mkdir -p "$DIR/download"
"$PY" -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install --quiet --disable-pip-version-check "xmlschema==4.3.2"
"$DIR/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
  "pytest==9.2.0" -d "$DIR/download"
tar -xzf "$DIR/download/pytest-9.2.0.tar.gz" -C "$DIR/download" \
  pytest-9.2.0/testing/example_scripts/junit-10.xsd
cp "$DIR/download/pytest-9.2.0/testing/example_scripts/junit-10.xsd" "$XSD"
rm -rf "$DIR/download"
