"""An independent reference for the embedding model: the same BERT forward pass written out in
float64 NumPy (tokenizers + safetensors + numpy from PyPI, no deep-learning framework), mean
pooling and L2 normalisation as sentence-transformers does for all-MiniLM-L6-v2.

It wrote crates/ils-ai/tests/fixtures/reference_embeddings.json, which the Rust test compares
with candle's output. Rerun:  python3 models/reference/embed_reference.py > <that file>
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL = "models/all-MiniLM-L6-v2"
SENTENCES = [
    "Progressive lenses need a fitting height measured in the chosen frame.",
    "Polycarbonate is impact resistant and suits children's spectacles.",
    "Remove contact lenses before swimming and never rinse them with tap water.",
    "The practice opens at 8:30 on weekdays and closes at noon on Saturdays.",
    "A high-index 1.74 material makes strong minus lenses thinner.",
    "Anti-reflective coating reduces glare when driving at night.",
    "Axis 180, cylinder -0.75",
    "Kurzsichtigkeit wird mit Minusgläsern korrigiert.",
    "ok",
    " ".join(["Blue light filters are optional."] * 60),  # longer than 256 tokens: truncated
]


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def main():
    w = {k: v.astype(np.float64) for k, v in load_file(f"{MODEL}/model.safetensors").items()}
    cfg = json.load(open(f"{MODEL}/config.json"))
    heads = cfg["num_attention_heads"]
    tok = Tokenizer.from_file(f"{MODEL}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    out = []
    for text in SENTENCES:
        enc = tok.encode(text)
        ids = np.array(enc.ids)
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
            + w["embeddings.token_type_embeddings.weight"][np.array(enc.type_ids)]
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = x.shape[1] // heads
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            lin = lambda t, name: t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            q, k, v = (lin(x, f"attention.self.{m}").reshape(n, heads, d).transpose(1, 0, 2) for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            probs = scores / scores.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, heads * d)
            x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = gelu(lin(x, "intermediate.dense"))
            x = layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = x.mean(0)
        out.append({"text": text, "tokens": n, "embedding": [round(float(v), 10) for v in pooled / np.linalg.norm(pooled)]})
    json.dump({"model": "all-MiniLM-L6-v2", "reference": "float64 NumPy BERT forward pass", "sentences": out}, sys.stdout)


if __name__ == "__main__":
    main()
