"""Which lexical store: numpy CSR postings with corpus-wide statistics (what the index uses), bm25s,
or SQLite FTS5 over the pre-tokenized passages, on the same tokens and questions.

    .venv/bin/python bench/bench_lexical.py --index var/bench-scale/5000/index [--questions 200]

(make an index with `bench/bench_scale.py --n 5000 --keep` first). Why: BM25 statistics must be
those of the whole live corpus after any adds and removes. bm25s stores idf × tf-part per
posting, so a segment's scores carry that segment's IDF and must be recomputed whenever another
segment changes; FTS5's bm25() has its own constants (k1 = 1.2) and IDF, so it cannot give the
same scores as before; raw term frequencies in CSR arrays, scored at query time with global
statistics, can. This prints what each costs, so the choice is not on principle alone.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

import numpy as np
from common import p50_p95, questions

from policyqa.encode.tokenizer import tokenize
from policyqa.index.bm25 import BM25, KeyedVocab, Postings
from policyqa.index.store import segment
from policyqa.index.store.loaded import load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", required=True)
    p.add_argument("--questions", type=int, default=200)
    a = p.parse_args()
    idx = load(Path(a.index))
    tokens: list[list[str]] = []
    for s in idx.segments:
        tokens += segment.read_docs(s.path)[1]
    qs = [tokenize(q) for q in questions(a.questions)]
    print(f"{len(tokens):,} passages, {len(qs)} questions (CMRC2018), top 100 per question")
    rows = []

    t = time.perf_counter()
    _, keys, ptr, prow, tf, lengths = segment.postings(tokens)
    csr = BM25([Postings(KeyedVocab(keys), ptr, prow, tf, lengths, 0)], np.ones(len(tokens), bool))
    build_s = time.perf_counter() - t
    times = []
    for q in qs:
        t = time.perf_counter()
        sc = csr.scores(q)
        np.argpartition(-sc, 99)[:100]
        times.append(time.perf_counter() - t)
    held = ptr.nbytes + prow.nbytes + tf.nbytes + lengths.nbytes + keys.nbytes
    rows.append(("numpy CSR, global statistics (used)", build_s, times, held))

    import bm25s

    t = time.perf_counter()
    r = bm25s.BM25()
    r.index([x or ["\u3000"] for x in tokens], show_progress=False)
    build_s = time.perf_counter() - t
    times = []
    for q in qs:
        t = time.perf_counter()
        known = [x for x in q if x in r.vocab_dict]
        sc = np.asarray(r.get_scores(known)) if known else np.zeros(len(tokens))
        np.argpartition(-sc, 99)[:100]
        times.append(time.perf_counter() - t)
    size = sum(v.nbytes for v in r.scores.values() if hasattr(v, "nbytes"))
    rows.append(("bm25s (one index: per-segment IDF would need a rebuild on every change)", build_s, times, size))

    con = sqlite3.connect(":memory:")
    t = time.perf_counter()
    con.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61')")
    con.executemany("INSERT INTO t(rowid, body) VALUES (?, ?)", [(i, " ".join(x)) for i, x in enumerate(tokens)])
    con.commit()
    build_s = time.perf_counter() - t
    times = []
    for q in qs:
        words = [w.replace('"', "") for w in q if w.strip()]
        if not words:
            continue
        t = time.perf_counter()
        expr = " OR ".join(f'"{w}"' for w in words)
        con.execute("SELECT rowid, bm25(t) FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 100", (expr,)).fetchall()
        times.append(time.perf_counter() - t)
    rows.append(("SQLite FTS5, bm25() (k1 1.2, its own IDF: scores differ)", build_s, times, None))

    print("\n| store | build (s) | query p50 / p95 (ms) | size in memory |")
    print("|---|---|---|---|")
    for name, b, ts, size in rows:
        p50, p95 = p50_p95([t * 1000 for t in ts])
        sz = f"{size / 2**20:.1f} MiB" if size else "(in SQLite pages)"
        print(f"| {name} | {b:.2f} | {p50:.1f} / {p95:.1f} | {sz} |")


if __name__ == "__main__":
    main()
