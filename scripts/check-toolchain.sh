#!/usr/bin/env bash
# Checks that a Rust toolchain new enough for this workspace is installed.
set -euo pipefail
need="1.94"
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "check-toolchain: cargo is in ~/.cargo/bin but not on PATH; run: source ~/.cargo/env" >&2
  else
    echo "check-toolchain: no Rust toolchain found. Install Rust $need or newer with rustup (https://rustup.rs)." >&2
  fi
  exit 1
fi
have="$(rustc --version | awk '{print $2}')"
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  echo "check-toolchain: rustc $have is older than $need; run: rustup update stable" >&2
  exit 1
fi
