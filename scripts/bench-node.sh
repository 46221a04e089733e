#!/usr/bin/env bash
# Desktop-engine benchmarks, side by side with their peers (make bench-node):
#   1. embedding throughput and single-query latency: sentence-transformers (PyTorch, PyPI) and
#      ils-ai (candle) on the same model, sentences, batch size and thread count, one after
#      the other; ratios printed;
#   2. knowledge-base search latency over 10k and 100k chunks: the in-memory 8-bit index against plain
#      sqlite-vec float KNN and an exact scan (recall@10);
#   3. ingest throughput end to end, and peak memory.
# The peer needs a ~4.8 GB virtual environment (made once, see scripts/bench-embed-peer.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ils-target}"
threads="${ILS_BENCH_THREADS:-2}"
export RAYON_NUM_THREADS="$threads"
# The benchmarks are their own binary (crates/ils-node/benches/node.rs), not part of the product.
bench() { cargo bench --locked -q -p ils-node --bench node -- "$@"; }
bench --help >/dev/null
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== embedding: sentence-transformers (peer) then ils-ai (candle), $threads threads, batch 32"
bash scripts/bench-embed-peer.sh --model models/all-MiniLM-L6-v2 \
  --sentences benches/data/sentences.txt --batch 32 --threads "$threads" --repeat 3 > "$out/peer.json"
bench embed --sentences "$PWD/benches/data/sentences.txt" --model "$PWD/models/all-MiniLM-L6-v2" --batch 32 --repeat 3 --peer-json "$out/peer.json"

echo "== search latency"
bench search --chunks "${ILS_BENCH_CHUNKS:-10000,100000}" --queries 200

echo "== ingest"
bench ingest --copies 4
