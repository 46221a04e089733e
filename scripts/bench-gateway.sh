#!/usr/bin/env bash
# The AI gateway benchmark (crates/ils-server/benches/gateway.rs) with its peer, LiteLLM's
# proxy: makes (once) a venv with the exact pins in scripts/bench-litellm-requirements.txt, then
# runs the benchmark with ILS_BENCH_LITELLM naming its `litellm` program. LiteLLM runs on
# loopback against the benchmark's own provider server, offline (its bundled price list, no
# telemetry).
#
# Env: ILS_LITELLM_VENV (default ~/.cache/ils-litellm-venv), ILS_BENCH_PYTHON (default python3),
# and the benchmark's own knobs (ILS_BENCH_SECS, ILS_BENCH_PASSAGES, ILS_BENCH_LOAD_SECS,
# ILS_BENCH_SCENARIOS; see the top of gateway.rs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/bench-litellm-requirements.txt"
venv="${ILS_LITELLM_VENV:-$HOME/.cache/ils-litellm-venv}"
python="${ILS_BENCH_PYTHON:-python3}"
stamp="$venv/.ils-bench-stamp"

log() { echo "bench-gateway: $*" >&2; }

pyver=$("$python" -c 'import platform, sys; print(platform.python_implementation(), sys.version.split()[0], platform.machine())')
want="$(sha256sum "$req" | cut -d' ' -f1) $pyver"
if [ -x "$venv/bin/litellm" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "venv $venv is up to date"
else
  start=$(date +%s)
  if [ ! -x "$venv/bin/python" ]; then
    log "creating venv $venv ($pyver)"
    "$python" -m venv "$venv"
  fi
  rm -f "$stamp"
  "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    --no-deps -r "$req" >&2
  LITELLM_LOCAL_MODEL_COST_MAP=True "$venv/bin/litellm" --version >&2
  echo "$want" > "$stamp"
  log "venv ready in $(( $(date +%s) - start ))s"
fi

cd "$here/.."
ILS_BENCH_LITELLM="$venv/bin/litellm" exec cargo bench -p ils-server --bench gateway --locked
