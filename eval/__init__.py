"""The evaluation set and harness: gold questions, metrics as small pure functions, floors.

    gold.py       the gold questions (gold.jsonl) located in the documents; metrics.py: recall, MRR, nDCG, P/R/F1
    harness.py    `evaluate`, `summarize`, the report; tune.py: the sweeps that chose the defaults
"""

from __future__ import annotations

from policyqa.exports import lazy

__getattr__, __all__ = lazy(__name__, {
    "policyqa.eval.harness": "evaluate summarize",
    "policyqa.eval.gold": "load_gold",
})
