"""Why a question is refused (未找到相关内容): one small rule per reason, in the order they are tried.

Each rule takes the `Case` and returns the reason shown to the user, or None. The first rule
that answers refuses the question; if none does, weak evidence still refuses it (no reason
shown): a best cosine under the model's no-answer threshold. BM25 alone has no comparable
score, so bm25 mode is refused only by a rule or when nothing matched.

The rules are of two kinds. Most refuse questions that no indexed document can answer,
whatever the passages say (a place nobody wrote about, a year never mentioned). The last
reads the passages: near misses (the policy named, its amount not) score like answers, and
whether the asked kind of phrase is there at all is what tells them apart without reading
comprehension.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from policyqa.corpus.places import lookup
from policyqa.corpus.types import Document
from policyqa.qa.answer import REFUSE_WITHOUT, phrase_kind
from policyqa.qa.query import Query
from policyqa.qa.types import Hit

PLAN_TYPES = ("工作要点", "工作方案", "规划")  # documents that set targets and report no outcomes
ACTUAL = re.compile(r"实际|完成了|实现了")


@dataclass
class Case:
    """A question with its hits and a way to read the documents in scope, as the rules need them."""

    query: Query
    hits: list[Hit]
    mode: str
    documents: Callable[[], Sequence[Document]]  # every indexed document (read only when a rule needs it)
    answer_depth: int  # hits searched for the phrase a sum/day/count question asks for (Retrieval.answer_depth)
    threshold: float  # best cosine under this: weak evidence (the model's own, Retrieval.threshold_for)
    unscored: bool = False  # some hit has no cosine (its vector is still being embedded)

    @cached_property
    def all_docs(self) -> Sequence[Document]:
        return self.documents()

    @cached_property
    def named_docs(self) -> list[Document]:
        """The documents of the places the question names (none named: empty)."""
        cities = self.query.cities
        return [d for d in self.all_docs if d.meta.city in cities] if cities else []


def mentions(text: str, name: str) -> bool:
    """Whether text names it, line breaks and stray spaces aside (网页转来的文本常把一个名称断开)."""
    return name in text or re.sub(r"\s+", "", name) in re.sub(r"\s+", "", text)


def place_not_indexed(c: Case) -> str | None:
    """深圳市的…: a place no document is about (哪些城市在武汉设有… keeps 武汉 as its topic). Not when the
    best passage's document has no place label (it may be that place's), a provincial document of the
    place is among the hits, or the place's own prefecture writes of it (温州 on 瑞安): a passage of
    another place that names it in passing (岳阳 on 益阳) is not about it."""
    q = c.query
    if not q.other_places or q.cities or q.aggregate:
        return None
    hits = c.hits[: c.answer_depth]
    if hits and not (hits[0].city or hits[0].province):
        return None
    if any(h.province in q.other_places for h in hits):  # 湖北省: a provincial document, no city
        return None
    places = [p for p in map(lookup, q.other_places) if p]
    if any(h.city == p.parent and mentions(h.title + h.text, n) for h in hits for p in places for n in (p.name, p.short)):
        return None
    return f"问题提到的{'、'.join(q.other_places)}不在已索引文档的城市中"


def figure_of_broader_place(c: Case) -> str | None:
    """黄石市的入库总数 when only 大冶 is indexed: a county's figure is not its prefecture's (unless the
    place has documents of its own among the hits, or the best one has no place label)."""
    q = c.query
    # a place's own documents: of the city itself, or of the province with no city (黑龙江省财政厅的通知)
    own = {h.city or h.province for h in c.hits}
    if c.hits and not (c.hits[0].city or c.hits[0].province):
        return None  # the best passage's document has no place: it may be the place's own
    broader = [b for b in q.broader if b not in own]
    if broader and q.wants_span and not q.aggregate:
        inside = "、".join(q.cities) or "其下辖城市"
        return f"没有{'、'.join(broader)}本级的文档（只有{inside}的），无法给出{'、'.join(broader)}的数字"
    return None


def year_not_mentioned(c: Case) -> str | None:
    """荆州2019年…: the named place's documents never mention that year."""
    missing = [y for y in c.query.years if c.named_docs and not any(str(y) in d.text for d in c.named_docs)]
    if missing:
        return f"{'、'.join(c.query.cities)}的文档中没有提到{'、'.join(map(str, missing))}年"
    return None


def name_not_mentioned(c: Case) -> str | None:
    """An ordinal, quoted name or title (第二次, “科创贷”, 《…》) no document in scope mentions."""
    if not c.query.names:
        return None
    scope = c.named_docs or c.all_docs
    absent = [n for n in c.query.names if not any(mentions(d.text, n) for d in scope)]
    if absent:
        return f"{'、'.join(c.query.cities) or '已索引'}的文档中没有提到{'、'.join(absent)}"
    return None


def actual_of_plans(c: Case) -> str | None:
    """What was actually achieved, asked of a place whose documents are all plans (targets only)."""
    q = c.query
    if q.aggregate or not ACTUAL.search(q.text) or not c.named_docs:
        return None
    if all(d.meta.doc_type in PLAN_TYPES for d in c.named_docs):
        return f"{'、'.join(q.cities)}的文档都是工作计划，只有目标，没有实际完成的数字"
    return None


def phrase_missing(c: Case) -> str | None:
    """补贴是多少 / 哪一天 / 多少件, and none of the best passages' answer sentences holds one."""
    q = c.query
    kind = phrase_kind(q.text) if q.wants_span and not q.aggregate else None
    if kind in REFUSE_WITHOUT and not any(h.answer_span for h in c.hits[: c.answer_depth]):
        return f"最相关的段落中没有问题所问的{REFUSE_WITHOUT[kind]}"
    return None


RULES: tuple[Callable[[Case], str | None], ...] = (
    place_not_indexed,
    figure_of_broader_place,
    year_not_mentioned,
    name_not_mentioned,
    actual_of_plans,
    phrase_missing,
)


def judge(case: Case) -> tuple[bool, str | None]:
    """(found, reason): whether the hits answer the question, and if not, the reason to show."""
    if not case.hits:
        return False, None
    for rule in RULES:
        reason = rule(case)
        if reason:
            return False, reason
    if case.mode == "bm25" or case.unscored:
        return True, None
    return max(h.dense for h in case.hits) >= case.threshold, None
