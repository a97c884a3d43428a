"""Retrieval and answer metrics, as plain functions over lists (no index, no model)."""

from __future__ import annotations

import math


def overlaps(span: tuple[int, int], gold: tuple[int, int], share: float = 0.5) -> bool:
    """A returned span counts for a gold span it contains or covers most of."""
    inter = min(span[1], gold[1]) - max(span[0], gold[0])
    return inter > 0 and inter >= share * (gold[1] - gold[0])


def first_hit_rank(relevant: list[bool]) -> int | None:
    return next((i + 1 for i, r in enumerate(relevant) if r), None)


def recall_at(relevant: list[bool], k: int) -> float:
    return float(any(relevant[:k]))


def mrr_at(relevant: list[bool], k: int) -> float:
    r = first_hit_rank(relevant[:k])
    return 1.0 / r if r else 0.0


def ndcg_at(gains: list[float], n_relevant: int, k: int) -> float:
    """Binary-gain nDCG: `gains[i]` is 1 when result i covers a gold evidence not yet covered."""
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(n_relevant, k)))
    return dcg / ideal if ideal else 0.0


def set_prf(predicted: set[str], gold: set[str]) -> tuple[float, float, float]:
    if not predicted and not gold:
        return 1.0, 1.0, 1.0
    tp = len(predicted & gold)
    p = tp / len(predicted) if predicted else 0.0
    r = tp / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")
