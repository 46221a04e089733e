#!/usr/bin/env python3
"""Peer benchmark: sentence embedding speed of sentence-transformers (PyTorch, CPU).

Measures the same model (all-MiniLM-L6-v2: BERT, mean pooling, L2 normalisation, max 256 tokens,
padding to the longest in each batch) on the same sentences as our candle benchmark, so the two
can be compared side by side. Run it through scripts/bench-embed-peer.sh, which makes the venv.

  (a) throughput: encode every sentence with batch_size=--batch, --repeat times; best and median
      sentences/s. Note sentence-transformers sorts the inputs by length before batching (as it
      always does in encode()), which cuts padding.
  (b) single-query latency: one short query encoded on its own 200 times; p50 and p99 in ms.

stdout: exactly one line of JSON. Everything else (progress, environment) goes to stderr.
The model is loaded from local files only; nothing is downloaded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

QUERY = "what lens material suits a child's sports glasses?"
SINGLE_RUNS = 200
DUMP_COUNT = 10


def log(*args: object) -> None:
    print("bench-embed-peer:", *args, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="model directory (config.json, model.safetensors, tokenizer.json)")
    ap.add_argument("--sentences", required=True, type=Path, help="UTF-8 text file, one sentence per line")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes over all sentences")
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--dump-embeddings", type=Path, metavar="OUT.json",
                    help=f"write the embeddings of the first {DUMP_COUNT} sentences (and of the query) as JSON")
    args = ap.parse_args()
    if args.batch < 1 or args.threads < 1 or args.repeat < 1:
        ap.error("--batch, --threads and --repeat must be at least 1")

    # Local files only, and thread counts fixed before torch/tokenizers start their pools.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("MKL_NUM_THREADS", str(args.threads))
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))  # HF tokenizers' batch encoding
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    sentences = [line.strip() for line in args.sentences.read_text(encoding="utf-8").splitlines()]
    sentences = [s for s in sentences if s]
    if not sentences:
        ap.error(f"{args.sentences} has no sentences")
    model_dir = args.model.resolve()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (model_dir / name).is_file():
            ap.error(f"{model_dir / name} is missing (run scripts/fetch-model.sh)")

    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    log(f"imports {time.perf_counter() - t0:.1f}s; torch {torch.__version__}, "
        f"sentence-transformers {sentence_transformers.__version__}, python {sys.version.split()[0]}")

    # Built from modules because the model directory has no modules.json: the same three modules
    # as the published model (Transformer -> mean Pooling -> Normalize).
    t0 = time.perf_counter()
    pooling_cfg = json.loads((model_dir / "1_Pooling" / "config.json").read_text()) \
        if (model_dir / "1_Pooling" / "config.json").is_file() else {"word_embedding_dimension": 384}
    transformer = Transformer(str(model_dir), max_seq_length=args.max_seq_length)
    pooling = Pooling(pooling_cfg["word_embedding_dimension"], "mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu")
    model.eval()
    tok = transformer.tokenizer
    dim_fn = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    log(f"model loaded in {time.perf_counter() - t0:.2f}s from {model_dir} "
        f"(tokenizer {type(tok).__name__}, max_seq_length {model.max_seq_length}, "
        f"dim {dim_fn()})")
    log(f"threads: torch intra-op {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}; "
        f"cpu {os.cpu_count()}; {torch.backends.cpu.get_cpu_capability()}; "
        f"mkldnn {torch.backends.mkldnn.is_available()}")

    # Token statistics, to compare with the Rust side's tokenisation.
    enc = tok(sentences, truncation=True, max_length=model.max_seq_length)
    lens = [len(ids) for ids in enc["input_ids"]]
    log(f"{len(sentences)} sentences; tokens per sentence (with [CLS]/[SEP]) mean {statistics.mean(lens):.1f}, "
        f"median {statistics.median(lens)}, max {max(lens)}, total {sum(lens)}; "
        f"query tokens {len(tok(QUERY)['input_ids'])}")

    def encode(texts, batch_size):
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                            normalize_embeddings=False, show_progress_bar=False)

    # Warm-up: a full pass (first-touch allocations, oneDNN kernel selection) and some queries.
    t0 = time.perf_counter()
    warm = encode(sentences, args.batch)
    for _ in range(10):
        encode([QUERY], 1)
    log(f"warm-up {time.perf_counter() - t0:.2f}s; embeddings {warm.shape}, "
        f"norm of first {float((warm[0] ** 2).sum() ** 0.5):.6f}")

    # (a) throughput
    rates: list[float] = []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        encode(sentences, args.batch)
        dt = time.perf_counter() - t0
        rates.append(len(sentences) / dt)
        log(f"pass {i + 1}/{args.repeat}: {dt:.3f}s, {rates[-1]:.1f} sentences/s")

    # (b) single-query latency
    times_ms: list[float] = []
    for _ in range(SINGLE_RUNS):
        t0 = time.perf_counter()
        encode([QUERY], 1)
        times_ms.append((time.perf_counter() - t0) * 1000)
    log(f"single query x{SINGLE_RUNS}: min {min(times_ms):.2f} ms, mean {statistics.mean(times_ms):.2f} ms, "
        f"max {max(times_ms):.2f} ms")

    if args.dump_embeddings:
        first = sentences[:DUMP_COUNT]
        vecs = encode(first + [QUERY], args.batch)
        dump = {
            "impl": "sentence-transformers",
            "model": str(model_dir),
            "sentences": first + [QUERY],
            "embeddings": [[float(x) for x in v] for v in vecs],
        }
        args.dump_embeddings.parent.mkdir(parents=True, exist_ok=True)
        args.dump_embeddings.write_text(json.dumps(dump) + "\n", encoding="utf-8")
        log(f"wrote {len(vecs)} embeddings to {args.dump_embeddings}")

    print(json.dumps({
        "impl": "sentence-transformers",
        "torch": torch.__version__,
        "st": sentence_transformers.__version__,
        "threads": args.threads,
        "batch": args.batch,
        "sentences": len(sentences),
        "sentences_per_s_best": round(max(rates), 1),
        "sentences_per_s_median": round(statistics.median(rates), 1),
        "single_query_p50_ms": round(percentile(times_ms, 50), 3),
        "single_query_p99_ms": round(percentile(times_ms, 99), 3),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
