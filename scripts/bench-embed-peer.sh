#!/usr/bin/env bash
# Peer benchmark: sentence-transformers (PyTorch from PyPI, CPU) embedding speed on the same model
# and sentences as our candle benchmark. Makes (once) a venv with the exact pins in
# scripts/bench-peer-requirements.txt, then runs scripts/bench_embed_peer.py with the arguments
# given, which prints one line of JSON on stdout (everything else goes to stderr).
#
#   bash scripts/bench-embed-peer.sh --model models/all-MiniLM-L6-v2 \
#       --sentences benches/data/sentences.txt --batch 32 --threads 2 --repeat 3
#
# Env: ILS_BENCH_VENV (default ~/.cache/ils-bench-venv), ILS_BENCH_PYTHON (default python3, 3.10+).
# Idempotent: the venv holds a stamp with the hash of the requirements and the Python version; when
# it matches, nothing is installed. The venv is ~4.8 GB: PyPI's Linux torch is the CUDA build and
# cannot be imported without its nvidia-* libraries, although they are never used here.
# Network is used only for pip installs from PyPI; the model is read from local files only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/bench-peer-requirements.txt"
venv="${ILS_BENCH_VENV:-$HOME/.cache/ils-bench-venv}"
python="${ILS_BENCH_PYTHON:-python3}"
stamp="$venv/.ils-bench-stamp"

log() { echo "bench-embed-peer: $*" >&2; }

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { log "$python is older than 3.10"; exit 1; }
pyver=$("$python" -c 'import platform, sys; print(platform.python_implementation(), sys.version.split()[0], platform.machine())')
want="$(sha256sum "$req" | cut -d' ' -f1) $pyver"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "venv $venv is up to date"
else
  start=$(date +%s)
  if [ -f "$venv/pyvenv.cfg" ] && [ -x "$venv/bin/python" ] \
     && [ "$("$venv/bin/python" -c 'import platform, sys; print(platform.python_implementation(), sys.version.split()[0], platform.machine())')" = "$pyver" ]; then
    log "updating venv $venv to $req"
  elif [ -f "$venv/pyvenv.cfg" ]; then
    log "recreating venv $venv for $pyver"
    "$python" -m venv --clear "$venv"
  elif [ -e "$venv" ] && [ -n "$(ls -A "$venv")" ]; then
    log "$venv exists and is not a venv; set ILS_BENCH_VENV to another path"; exit 1
  else
    log "creating venv $venv ($pyver)"
    "$python" -m venv "$venv"
  fi
  rm -f "$stamp"
  # --no-deps: the file is the whole closure, minus torch's unneeded GPU-only extras (see its header).
  "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    --only-binary=:all: --no-deps -r "$req" >&2
  "$venv/bin/python" -c 'import torch, sentence_transformers, transformers
x = torch.ones(2, 3) @ torch.ones(3, 2)
assert float(x.sum()) == 12.0
print("bench-embed-peer: torch", torch.__version__, "sentence-transformers", sentence_transformers.__version__,
      "transformers", transformers.__version__, "import and run on CPU")' >&2
  echo "$want" > "$stamp"
  log "venv ready in $(( $(date +%s) - start ))s, $(du -sh "$venv" 2>/dev/null | cut -f1)"
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec "$venv/bin/python" "$here/bench_embed_peer.py" "$@"
