"""City-by-city answers for 哪些城市 / 哪些地方 / 哪几个 questions.

A place is listed only when one of its passages carries the question's topic in its
answering sentence, not when the topic is mentioned in passing: the place's best sentence
must cover most of the informative question terms that any place's best sentence covers.
"""

from __future__ import annotations

from index.lexical import tokenize
from qa.query import Query
from qa.types import Group, Hit

SUPPORT = 0.75  # share of the best place's topical term weight a place must reach to be listed


def _topic_weight(hit: Hit, q: Query, idf: dict[str, float]) -> float:
    words = set(tokenize(hit.answer or ""))
    return sum(idf.get(t, 0.0) for t in set(q.tokens) & words)


def group_by_city(hits: list[Hit], q: Query, idf: dict[str, float], top_k: int) -> tuple[list[Group], list[Hit]]:
    """Groups (each city once, best passage first) and the hits to show, re-ranked by group."""
    by_city: dict[str, list[Hit]] = {}
    weight: dict[str, float] = {}
    hit_weight: dict[int, float] = {}
    for h in hits:
        city = h.city or "未知城市"
        by_city.setdefault(city, []).append(h)
        hit_weight[h.pid] = _topic_weight(h, q, idf)
        weight[city] = max(weight.get(city, 0.0), hit_weight[h.pid])
    if not by_city:
        return [], hits[:top_k]
    top = max(weight.values())
    listed = [c for c in by_city if top > 0 and weight[c] >= SUPPORT * top]
    listed.sort(key=lambda c: -max(h.score for h in by_city[c]))
    shown: list[Hit] = []
    for c in listed:  # each listed place's best supporting passage first
        shown.append(max(by_city[c], key=lambda h: (hit_weight[h.pid] >= SUPPORT * top, h.score)))
    for h in hits:  # then further passages that support a listed place, by score
        if len(shown) >= max(top_k, len(listed)):
            break
        if h not in shown and (h.city or "未知城市") in listed and hit_weight[h.pid] >= SUPPORT * top:
            shown.append(h)
    for h in hits:  # and, to fill the page, the listed places' other passages
        if len(shown) >= max(top_k, len(listed)):
            break
        if h not in shown and (h.city or "未知城市") in listed:
            shown.append(h)
    for new_rank, h in enumerate(shown, 1):
        h.rank = new_rank
    groups = [Group(city=c, ranks=[h.rank for h in shown if (h.city or "未知城市") == c]) for c in listed]
    return groups, shown
