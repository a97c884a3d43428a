"""Build throughput against bare encoding, and warm query latency per mode.

    .venv/bin/python bench/bench_pipeline.py [--corpus documents] [--repeat 3]

Both throughput figures embed the same passage texts with the same model, already loaded;
the pipeline figure adds reading, chunking, tokenizing, BM25, SQLite and FAISS writing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import p50_p95

from policyqa.config import Settings
from policyqa.corpus.reader import read_corpus
from policyqa.encode import embedder, encoders
from policyqa.eval.gold import load_gold
from policyqa.index.build import build
from policyqa.qa.search import MODES, Searcher


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="documents")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    base = Settings().with_(corpus_dir=Path(args.corpus))
    docs, _ = read_corpus(base.corpus_dir, base.chunking)
    texts = [p.indexed_text for d in docs for p in d.passages]
    variant = encoders.resolve(base.encoder, embedder.resolve_device(base.device))
    model = encoders.load(base.model, variant, base.device)  # the encoder the build will use
    model.passages(texts[:8], base.batch_size)  # warm-up

    bare, pipe = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        model.passages(texts, base.batch_size)
        bare.append(len(texts) / (time.perf_counter() - t))
        with tempfile.TemporaryDirectory() as tmp:
            s = replace(base, index_dir=Path(tmp) / "index")
            t = time.perf_counter()
            report = build(s, progress=False)
            pipe.append(report.passages / (time.perf_counter() - t))
    b, p = statistics.median(bare), statistics.median(pipe)
    print(f"passages: {len(texts)} from {len(docs)} documents, model {base.model}, encoder {variant}")
    print(f"build throughput: bare encode {b:.1f} passages/s, pipeline {p:.1f} passages/s, ratio {p / b:.2f} (target >= 0.90)")

    with tempfile.TemporaryDirectory() as tmp:
        s = replace(base, index_dir=Path(tmp) / "index")
        build(s, progress=False)
        questions = [q.question for q in load_gold()]
        for mode in MODES:
            searcher = Searcher(s)  # fresh: no question vectors cached from the previous mode
            for q in questions[:5]:
                searcher.ask(q, mode=mode)  # warm
            times = []
            for q in questions:
                t = time.perf_counter()
                searcher.ask(q, mode=mode, top_k=5)
                times.append((time.perf_counter() - t) * 1000)
            p50, p95 = p50_p95(times)
            print(f"query latency {mode:6s}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(times)} questions"
                  + (" (target hybrid p50 <= 50 ms)" if mode == "hybrid" else ""))


if __name__ == "__main__":
    main()
