#!/usr/bin/env bash
# Builds and starts ILS Desktop (src-tauri/ + ui/) on its embedded SQLite, offline until the
# practice is connected to ILS Central. The data lives in ~/.local/share/ils (ILS_NODE_DB moves
# it); the embedding model is found in models/ (fetched by `make setup`).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  cat >&2 <<'MSG'
ILS Desktop needs a display to open its window, and this session has none
(neither DISPLAY nor WAYLAND_DISPLAY is set). Instead you can:
  - run it under a virtual display:   xvfb-run -a make run
  - use the same practice data from a terminal:   cargo run -p ils-cli --bin ils-node -- --help
  - run the multi-practice service with a demo practice:   make central
MSG
  exit 2
fi

echo "run: building ILS Desktop"
# Built as the tests build (the whole workspace, so that features resolve the same way): right
# after `make test` this only links.
cargo build -q --locked --workspace --bins
export ILS_MODEL_DIR="${ILS_MODEL_DIR:-$root/models/all-MiniLM-L6-v2}"
exec "${CARGO_TARGET_DIR:-$root/target}/debug/ils-desktop"
