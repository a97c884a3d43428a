"""Answers laid out by year, oldest first: `ask --timeline` and 历年 / 演变 / 变化 / 先后 questions.

The shape mirrors qa/grouping.py (groups of ranks, hits re-ranked so the groups read in order):
within a year the passages keep their relevance order; passages of documents without a year come last.
"""

from __future__ import annotations

import re

from policyqa.qa.types import Hit, YearGroup

TIMELINE_WORDS = re.compile(r"历年|演变|变化|先后")


def wants_timeline(question: str, asked: bool = False) -> bool:
    """Whether to lay the answer out by year: asked for (--timeline), or the question asks how things changed."""
    return asked or bool(TIMELINE_WORDS.search(question))


def group_by_year(hits: list[Hit]) -> tuple[list[YearGroup], list[Hit]]:
    """(one group per year, oldest first, then the undated; the hits re-ranked in that order)."""
    ordered = sorted(hits, key=lambda h: (h.year is None, h.year or 0))  # stable: relevance order within a year
    for rank, h in enumerate(ordered, 1):
        h.rank = rank
    groups: list[YearGroup] = []
    for h in ordered:
        if groups and groups[-1].year == h.year:
            groups[-1].ranks.append(h.rank)
        else:
            groups.append(YearGroup(h.year, [h.rank]))
    return groups, ordered
