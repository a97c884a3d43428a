"""Dense and lexical candidates into one ranking (txtai-style hybrid scoring).

Weighted fusion min-max normalises each retriever's scores and adds them with weights, so
how far ahead the best passage is survives (what fact questions need); reciprocal-rank
fusion keeps only the ranks. The defaults were chosen by `python -m policyqa.eval.tune fusion`.
"""

from __future__ import annotations

import numpy as np

from policyqa.config import Retrieval


def minmax(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.min()) / (scores.max() - scores.min() + 1e-9) if len(scores) else scores


def fuse(dense: tuple[np.ndarray, np.ndarray], lexical: tuple[np.ndarray, np.ndarray], mode: str, r: Retrieval) -> dict[int, float]:
    """Passage id → fused score. `dense` and `lexical` are (scores, ids), best first."""
    d_scores, d_ids = dense
    b_scores, b_ids = lexical
    if mode == "dense":
        return {int(i): float(s) for s, i in zip(d_scores, d_ids)}
    if mode == "bm25":
        return {int(i): float(s) for s, i in zip(b_scores, b_ids)}
    fused: dict[int, float] = {}
    if r.fusion == "weighted":
        parts = ((minmax(d_scores), d_ids, r.dense_weight), (minmax(b_scores), b_ids, r.bm25_weight))
        for scores, ids, weight in parts:
            for s, i in zip(scores, ids):
                fused[int(i)] = fused.get(int(i), 0.0) + weight * float(s)
        return fused
    for ids, weight in ((d_ids, r.dense_weight), (b_ids, r.bm25_weight)):
        for rank, i in enumerate(ids):
            fused[int(i)] = fused.get(int(i), 0.0) + weight / (r.rrf_k + rank + 1)
    return fused
