#!/usr/bin/env bash
# Builds the installable ILS Desktop: a .deb (and an AppImage where Tauri's AppImage tools can be
# fetched) with the interface and the embedding model inside. Output:
#   $CARGO_TARGET_DIR/release/bundle/deb/ILS Desktop_<version>_amd64.deb
#   $CARGO_TARGET_DIR/release/bundle/appimage/ILS Desktop_<version>_amd64.AppImage
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
tauri="$root/ui/node_modules/.bin/tauri"
[ -x "$tauri" ] || { echo "package: the Tauri CLI is missing; run make setup" >&2; exit 1; }
[ -f models/all-MiniLM-L6-v2/model.safetensors ] || { echo "package: the model is missing; run make setup" >&2; exit 1; }
bundles="${ILS_BUNDLES:-deb,appimage}"
target="${CARGO_TARGET_DIR:-$root/target}"
cd src-tauri
# Built, then stripped of the line tables the release profile keeps for profiling (they more
# than double the binary), then bundled.
"$tauri" build --ci --no-bundle
strip --strip-debug "$target/release/ils-desktop"
if ! "$tauri" bundle --ci --bundles "$bundles"; then
  if [ "$bundles" = "deb,appimage" ]; then
    # The AppImage needs linuxdeploy, which Tauri downloads from GitHub on first use; where that
    # cannot be reached, the .deb is still built.
    echo "package: the AppImage could not be built here (Tauri fetches linuxdeploy from GitHub); building the .deb only" >&2
    "$tauri" bundle --ci --bundles deb
  else
    exit 1
  fi
fi
out="$target/release/bundle"
echo "package: built"
find "$out" -maxdepth 2 \( -name '*.deb' -o -name '*.AppImage' \) -printf '  %p (%s bytes)\n'
