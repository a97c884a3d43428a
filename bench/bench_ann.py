"""Recall@10 of the approximate vector indexes against exact search, on real embeddings.

    .venv/bin/python bench/bench_ann.py [--questions 500] [--work var/bench-ann]
    .venv/bin/python bench/bench_ann.py --random 100000     (graph construction depth, random vectors)

Why: `--vectors auto` turns to HNSW past AUTO_ANN_FROM passages, and an approximate index is
only worth having if it finds what exact search finds. Random vectors make ANN look worse than
it is (they have no clusters), so this embeds the CMRC2018 contexts (CC-BY-SA, read from
../shared/datasets/cmrc2018) and the seed documents with m3e-small, the real model, and asks
CMRC2018's questions. Each kind is searched with the same parameters `policyqa ask` uses
(index/store/loaded.py `dense`: ANN candidates re-scored exactly), over all rows and with a filter that keeps a third of them.
The first run embeds about 1,600 passages (minutes on a CPU); the embedding cache keeps them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from common import REPO, base_texts, questions

from policyqa.config import Settings
from policyqa.encode import embedder
from policyqa.index.build import build
from policyqa.index.store import segment
from policyqa.index.store.loaded import ann_candidates, ann_search, load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=int, default=500)
    p.add_argument("--work", default=str(REPO / "var" / "bench-ann"))
    p.add_argument("--docs", type=int, help="only the first N contexts (a quick run on a busy machine)")
    p.add_argument("--random", type=int, metavar="N",
                   help="instead: HNSW build time and recall at efConstruction 80 and 40 over N random unit vectors")
    a = p.parse_args()
    if a.random:
        return random_graphs(a.random)
    work = Path(a.work)
    corpus = work / "documents"
    corpus.mkdir(parents=True, exist_ok=True)
    bases = base_texts()[: a.docs] if a.docs else base_texts()
    for i, (name, text) in enumerate(bases):
        f = corpus / f"{i:05d}-{name}.txt"
        if not f.exists():
            f.write_text(text, encoding="utf-8")
    settings = Settings().with_(corpus_dir=corpus, index_dir=work / "index", vectors="flat")
    build(settings, progress=True)
    idx = load(settings.index_dir)
    vectors = np.vstack([np.asarray(s.vectors) for s in idx.segments])[idx.live]
    contexts = {text for _, text in bases}
    qs = questions(a.questions, contexts)
    qv = embedder.encode(settings.model, qs, batch_size=32, device=settings.device, query=True)
    print(f"{len(vectors):,} passages, {len(qs)} CMRC2018 questions, m3e-small embeddings, k = 10")
    rng = np.random.default_rng(0)
    third = rng.random(len(vectors)) < 1 / 3
    print("\n| kind | recall@10, all rows | recall@10, filter keeping 1/3 | recall@10 before re-scoring | ms per query "
          "| index size |")
    print("|---|---|---|---|---|---|")
    for kind in ("flat", "hnsw", "ivf-sq8"):
        if kind != "flat":
            import faiss

            ann = segment.ann_index(vectors, kind)
            size = len(faiss.serialize_index(ann))
        else:
            ann, size = None, vectors.nbytes
        seg = SimpleNamespace(kind=kind, ann=ann, vectors=vectors)
        recalls = {None: [], "third": [], "codes": []}
        spent = 0.0
        for q in qv:
            for mask in (None, third):
                exact = vectors @ q
                if mask is not None:
                    exact = np.where(mask, exact, -np.inf)
                truth = set(np.argsort(-exact)[:10].tolist())
                t = time.perf_counter()
                if ann is None:
                    sc = vectors @ q if mask is None else np.where(mask, vectors @ q, -np.inf)
                    got = set(np.argpartition(-sc, 9)[:10].tolist())
                else:
                    # as LoadedIndex.dense: its candidates, re-scored exactly
                    _, found = ann_search(seg, q, ann_candidates(10), mask, ef=128)
                    got = set(found[np.argsort(-(vectors[found] @ q))[:10]].tolist())
                spent += time.perf_counter() - t
                recalls["third" if mask is not None else None].append(len(truth & got) / 10)
                if ann is not None and mask is None:  # the 8-bit codes' own top 10, before re-scoring
                    _, raw = ann_search(seg, q, 10, None, ef=128)
                    recalls["codes"].append(len(truth & set(raw.tolist())) / 10)
        ms = spent / len(qv) / 2 * 1000
        codes = f"{np.mean(recalls['codes']):.3f}" if recalls["codes"] else "-"
        print(f"| {kind} | {np.mean(recalls[None]):.3f} | {np.mean(recalls['third']):.3f} | {codes} | {ms:.2f} | "
              f"{size / 2**20:.1f} MiB |")


def random_graphs(n: int, n_questions: int = 200, k: int = 10) -> None:
    """The graph's construction depth on the worst case for a graph: random vectors, which have
    no neighbourhoods. Questions are rows plus a little noise, so each has a true nearest row."""
    import faiss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 512)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(n, n_questions, replace=False)] + 0.04 * rng.standard_normal((n_questions, 512)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(512)
    exact.add(x)
    _, truth = exact.search(q, k)
    fetch = ann_candidates(k)
    print(f"{n:,} random unit vectors (512-d), {n_questions} questions near rows; HNSW over 8-bit codes, M "
          f"{segment.HNSW_M}, efSearch 128, {fetch} candidates\n")
    print("| efConstruction | build (s) | ms per query | recall@10 among the candidates |\n|---|---|---|---|")
    for ef in (80, 40):
        segment.HNSW_EF_CONSTRUCTION = ef
        t = time.perf_counter()
        index = segment.ann_index(x, "hnsw")
        built = time.perf_counter() - t
        params = faiss.SearchParametersHNSW()
        params.efSearch = 128
        t = time.perf_counter()
        found = [index.search(q[i : i + 1], fetch, params=params)[1][0] for i in range(n_questions)]
        ms = (time.perf_counter() - t) / n_questions * 1000
        recall = np.mean([len(set(truth[i]) & set(found[i])) / k for i in range(n_questions)])
        print(f"| {ef} | {built:.1f} | {ms:.2f} | {recall:.3f} |")


if __name__ == "__main__":
    main()
