#!/usr/bin/env sh
# Installs the `ratecheck` binary from this checkout with cargo (into ~/.cargo/bin by default).
#
#   ./install.sh              build in release mode and install
#   ./install.sh --root DIR   install into DIR/bin instead
set -eu
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null 2>&1; then
  echo "install: cargo is not installed. Install Rust from https://rustup.rs (rustup), then run ./install.sh again." >&2
  exit 1
fi

# The crate's rust-version (Cargo.toml): older compilers fail deep inside a dependency.
NEED="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)"
HAVE="$(rustc --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\).*/\1/p')"
if [ -n "$NEED" ] && [ -n "$HAVE" ] && [ "$(printf '%s\n%s\n' "$NEED" "$HAVE" | sort -V | head -1)" != "$NEED" ]; then
  echo "install: ratecheck needs Rust $NEED or newer, this is $HAVE: run \`rustup update\`, then ./install.sh again." >&2
  exit 1
fi

echo "install: building ratecheck with $(cargo --version)" >&2
cargo install --path . --locked --force "$@"

BIN_DIR="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ "${1:-}" = "--root" ] && [ -n "${2:-}" ]; then
  BIN_DIR="$2/bin"
fi
if command -v ratecheck >/dev/null 2>&1; then
  echo "install: done: $(command -v ratecheck) ($(ratecheck --version))" >&2
else
  echo "install: done: $BIN_DIR/ratecheck. Add $BIN_DIR to your PATH to run it as \`ratecheck\`." >&2
fi
