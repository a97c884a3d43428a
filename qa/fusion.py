"""Dense and lexical candidates into one ranking (txtai-style hybrid scoring).

Weighted fusion normalises each retriever's scores and adds them with weights, so how far
ahead the best passage is survives (what fact questions need); reciprocal-rank fusion keeps
only the ranks. Min-max is the default scale; ÷ max and z-score are there to be swept
(Retrieval.normalise; none did better for e5-small on 2026-12-04, docs/model.md). The defaults
were chosen by `python -m policyqa.eval.tune fusion`.
"""

from __future__ import annotations

import numpy as np

from policyqa.config import Retrieval


def minmax(scores: np.ndarray) -> np.ndarray:
    """The best at 1, the worst candidate at 0."""
    return (scores - scores.min()) / (scores.max() - scores.min() + 1e-9) if len(scores) else scores


def by_max(scores: np.ndarray) -> np.ndarray:
    """The best at 1, zero kept at zero (a cosine stays a cosine, scaled)."""
    return scores / (scores.max() + 1e-9) if len(scores) else scores


def zscore(scores: np.ndarray) -> np.ndarray:
    """Standard deviations from the candidates' mean."""
    return (scores - scores.mean()) / (scores.std() + 1e-9) if len(scores) > 1 else np.zeros_like(scores)


NORMALISERS = {"minmax": minmax, "max": by_max, "z": zscore}


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
        norm = NORMALISERS[r.normalise]
        parts = ((norm(d_scores), d_ids, r.dense_weight), (norm(b_scores), b_ids, r.bm25_weight))
        for scores, ids, weight in parts:
            for s, i in zip(scores, ids):
                fused[int(i)] = fused.get(int(i), 0.0) + weight * float(s)
        return fused
    for ids, weight in ((d_ids, r.dense_weight), (b_ids, r.bm25_weight)):
        for rank, i in enumerate(ids):
            fused[int(i)] = fused.get(int(i), 0.0) + weight / (r.rrf_k + rank + 1)
    return fused
