#!/usr/bin/env bash
# ILS Desktop's benchmarks (src-tauri/benches/desktop.rs): search per keystroke over 10,000
# patients against a naive query, cold start to an interactive patient list and idle memory
# (the release app under Xvfb), bundle size. `make package` first adds the .deb's size.
# Building the benchmark builds the release app beside it (target/release/ils-desktop).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked -p ils-desktop --bench desktop
