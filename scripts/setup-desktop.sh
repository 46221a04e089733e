#!/usr/bin/env bash
# Installs what ILS Desktop (src-tauri/ + ui/) needs on Debian/Ubuntu, idempotently:
# WebKitGTK and GTK for the window, Xvfb and WebKitWebDriver for the end-to-end test,
# tauri-driver (the WebDriver bridge), and the interface's npm packages (from ui/package-lock.json),
# then builds the interface once so the Rust build can embed it.
# Fast when everything is already there: it checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

# shellcheck source=setup-common.sh
. "$(cd "$(dirname "$0")" && pwd)/setup-common.sh" setup-desktop

need=()
for p in libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev \
         pkg-config libxdo-dev xvfb xauth webkit2gtk-driver imagemagick nodejs npm file; do
  installed "$p" || need+=("$p")
done
# Node.js from the machine may come from elsewhere than Debian's packages: keep it when it is new enough.
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then
  need=("${need[@]/nodejs}"); need=("${need[@]/npm}")
fi
clean=()
for p in "${need[@]}"; do [ -n "$p" ] && clean+=("$p"); done
if [ ${#clean[@]} -gt 0 ]; then
  log "installing ${clean[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${clean[@]}" >/dev/null
fi

# tauri-driver: the version pinned here, installed once into cargo's bin folder.
TAURI_DRIVER_VERSION=2.1.0
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! "$cargo_bin/tauri-driver" --help >/dev/null 2>&1; then
  log "installing tauri-driver $TAURI_DRIVER_VERSION"
  # Its own target folder, so that the workspace's build folder is not disturbed.
  CARGO_TARGET_DIR="${HOME}/.cache/ils-tauri-driver-target" \
    cargo install -q tauri-driver --version "$TAURI_DRIVER_VERSION" --locked
  rm -rf "${HOME}/.cache/ils-tauri-driver-target"
fi

# The interface: packages exactly as locked, then built into ui/dist (embedded by src-tauri).
stamp="$root/ui/node_modules/.ils-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$root/ui/package-lock.json" "$stamp"; then
  log "installing the interface's packages (npm ci)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  cp "$root/ui/package-lock.json" "$stamp"
fi
if [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html ui/package-lock.json ui/vite.config.ts -newer ui/dist/index.html 2>/dev/null | head -1)" ]; then
  log "building the interface"
  (cd ui && npm run -s build)
fi
