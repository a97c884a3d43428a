"""The weighted fusion's scale (Retrieval.normalise, qa/fusion.py): what the sweep of docs/model.md varied."""

from __future__ import annotations

import numpy as np
import pytest

from policyqa.config import Retrieval
from policyqa.qa.fusion import NORMALISERS, fuse

# passage 1 is a hair ahead on cosine (as e5-small's close cosines are), passage 2 well ahead on BM25
DENSE = (np.array([0.90, 0.89]), np.array([1, 2]))
BM25 = (np.array([10.0, 5.0]), np.array([2, 1]))


def _first(normalise: str) -> int:
    fused = fuse(DENSE, BM25, "hybrid", Retrieval(normalise=normalise, dense_weight=0.6, bm25_weight=0.4))
    return max(fused, key=fused.get)


def test_min_max_makes_a_small_cosine_lead_count_fully_and_max_does_not():
    assert _first("minmax") == 1  # 0.01 of cosine stretched to the whole dense weight
    assert _first("max") == 2  # the raw cosines nearly tie, BM25's lead decides
    assert _first("z") == 1


@pytest.mark.parametrize("name", sorted(NORMALISERS))
def test_every_scale_keeps_each_retrievers_order_and_takes_a_lone_or_no_candidate(name):
    scale = NORMALISERS[name]
    scores = np.array([3.0, 2.0, 0.5])
    assert list(np.argsort(-scale(scores))) == [0, 1, 2]
    assert np.isfinite(scale(np.array([0.7]))).all() and len(scale(np.array([]))) == 0
