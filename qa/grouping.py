"""City-by-city answers for 哪些城市 / 哪些地方 / 哪几个 questions.

A place is listed only when one of its passages carries the question's topic in one
sentence, not when the topic is mentioned in passing: the place's most topical sentence must
hold a good share (Retrieval.support) of the topical word weight that the best place's sentence holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from policyqa.corpus.sections import sentence_spans
from policyqa.encode.tokenizer import tokenize
from policyqa.qa.answer import has_quantity
from policyqa.qa.query import Query
from policyqa.qa.types import Group, Hit

# a question for a figure; these words describe the figure, which has_quantity checks instead
ASKS_AMOUNT = re.compile(r"数量|数值|具体|家数|金额|多少|目标|增速|幅度|比重|占比")
# how a 哪些城市 question is phrased, not what it is about: a place's sentence need not repeat these
REPORTING_VERBS = frozenset("设定 提出 公布 给出 提到 具体 数值 推动 推行 开展 设立 举办 组织 在".split())


def topic_terms(q: Query) -> list[str]:
    """Whole words of the question (and its synonyms), not their parts: for 科技特派员工作站 a place
    must mention the 工作站, not merely 特派员."""
    words = tokenize(q.text, search=False) + [w for e in q.expansions for w in tokenize(e, search=False)]
    return [w for w in dict.fromkeys(words) if w not in REPORTING_VERBS]


def _topic_weight(hit: Hit, terms: list[str], idf: dict[str, float], amount: bool) -> float:
    """The topical term weight of the passage's most topical sentence (not the displayed answer,
    which may have been chosen for holding a number). When the question asks which places gave a
    figure (数量, 具体数值, 目标 …), only sentences that state an amount count."""
    text = hit.text.lower()
    sentences = [text[a:b] for a, b in sentence_spans(text, 0, len(text))]
    return max((sum(idf.get(t, 0.5) for t in terms if t in s) for s in sentences if not amount or has_quantity(s)), default=0.0)


def group_by_city(hits: list[Hit], q: Query, idf_of: Callable[[list[str]], dict[str, float]],
                  top_k: int, support: float) -> tuple[list[Group], list[Hit]]:
    """Groups (each city once, best passage first) and the hits to show, re-ranked by group.

    `idf_of` gives the index's IDF of words (BM25.idf): topical words weigh by their rarity."""
    amount = bool(ASKS_AMOUNT.search(q.text))
    terms = [t for t in topic_terms(q) if not (amount and ASKS_AMOUNT.fullmatch(t))]
    idf = idf_of(terms)
    by_city: dict[str, list[Hit]] = {}
    weight: dict[str, float] = {}
    hit_weight: dict[int, float] = {}
    for h in hits:
        city = h.place
        by_city.setdefault(city, []).append(h)
        hit_weight[h.pid] = _topic_weight(h, terms, idf, amount)
        weight[city] = max(weight.get(city, 0.0), hit_weight[h.pid])
    if not by_city:
        return [], hits[:top_k]
    bar = support * max(weight.values())
    supports = lambda h: hit_weight[h.pid] >= bar  # noqa: E731
    listed = [c for c in by_city if bar > 0 and weight[c] >= bar]
    listed.sort(key=lambda c: -max(h.score for h in by_city[c]))
    shown: list[Hit] = []
    for c in listed:  # each listed place's best supporting passage first
        shown.append(max(by_city[c], key=lambda h: (supports(h), h.score)))
    for h in hits:  # then further passages that support a listed place, by score
        if len(shown) >= max(top_k, len(listed)):
            break
        if h not in shown and h.place in listed and supports(h):
            shown.append(h)
    for h in hits:  # and, to fill the page, the listed places' other passages
        if len(shown) >= max(top_k, len(listed)):
            break
        if h not in shown and h.place in listed:
            shown.append(h)
    for new_rank, h in enumerate(shown, 1):
        h.rank = new_rank
    # a group holds its place's best passage and the others that support it; the page-fillers are
    # shown after the groups as other passages, not counted as the place's evidence
    firsts = {h.pid for h in shown[: len(listed)]}
    groups = [Group(city=c, ranks=[h.rank for h in shown if h.place == c and (h.pid in firsts or supports(h))])
              for c in listed]
    return groups, shown
