"""Passage embedding speed, torch against onnxruntime, one thread each, on the same texts.

    .venv/bin/python bench/embed_speed.py ../shared/data/scifact/corpus.jsonl [--n 200]

Reads a BEIR corpus (JSON lines with title and text), embeds the first N passages (title and text,
cut to 1,200 characters: about the 256 tokens the model reads) one at a time, as an ingest worker
does, with each encoder, and prints milliseconds a passage, the ratio, and the lowest cosine
between the two encoders' vectors of the same passage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from retrieval.embedding import Embedder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path, help="a BEIR corpus.jsonl")
    ap.add_argument("--n", type=int, default=200, help="passages to embed (default 200)")
    args = ap.parse_args(argv)
    texts = []
    with args.corpus.open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc.get('title', '')}\n{doc['text']}"[:1200])
            if len(texts) == args.n:
                break
    model = Settings().embedding_model
    torch = Embedder(model, batch_size=1, threads=1).load()
    onnx = Embedder(
        model, batch_size=1, threads=1, onnx_dir=Path(tempfile.mkdtemp()), onnx_passages=True
    ).load()
    if not onnx.enable_onnx():
        raise SystemExit("the ONNX export failed (see the log)")
    seconds = {}
    vectors = {}
    for name, embedder in (("torch", torch), ("onnxruntime", onnx)):
        embedder.embed(texts[:10])  # warm up
        t = time.perf_counter()
        vectors[name] = embedder.embed(texts)
        seconds[name] = time.perf_counter() - t
    cos = (vectors["torch"] * vectors["onnxruntime"]).sum(axis=1)
    for name, s in seconds.items():
        print(f"{name:12s} {s / len(texts) * 1000:7.1f} ms a passage ({len(texts)} passages)")
    print(f"onnxruntime is {seconds['torch'] / seconds['onnxruntime']:.2f}x torch's speed")
    print(f"lowest cosine between the two: {float(np.min(cos)):.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
