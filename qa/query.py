"""What a question asks, beyond its words: places, years, document types, the kind of answer.

A city or county named in the question restricts the search to that place's documents (and
the answer says so); a year or document type named boosts matching documents. Synonyms and
abbreviations from an editable dictionary widen the lexical query (高企 → 高新技术企业).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from policyqa.corpus.metadata import DOC_TYPES
from policyqa.corpus.places import find_places, gazetteer, lookup
from policyqa.encode.tokenizer import synonym_groups, tokenize  # the tokenizer knows every synonym as a word

AGGREGATE = re.compile(
    r"哪些(?:城市|地方|县|市|地区|区县|县市)|哪几个(?:城市|地方|县|市|地区)?|哪几(?:个|座)?城市"
    r"|各(?:个)?(?:城市|地方|县市)分别|有哪些(?:城市|地方)"
)
SPAN_WORDS = re.compile(
    r"多少|几|哪(?:两|几)?所|哪些(?:高校|单位|机构)|哪天|何时|什么时候|哪年|目标|哪家|哪个单位|叫什么|名称|文号|哪一|多高|多大|数量|比例"
    r"|成交额|金额|日期"
)
# what the question names exactly: an ordinal (第二次, 第六届, 第056号), a quoted name (“科创贷”) or a title
# (《…》). A document that answers repeats it; one that never mentions it is about something else.
NAMED = re.compile(r"第[一二三四五六七八九十百零〇两\d]+(?:次|届|批|期|轮|号)|“([^”]{2,30})”|《([^》]{2,60})》")
_TYPE_WORDS = {"要点": "工作要点", "方案": "工作方案", "答复": "提案答复", "提案": "提案答复", "报道": "新闻报道",
               "汇报": "进展汇报", "进展": "进展汇报", "规划": "规划", "解读": "政策解读"}


@dataclass
class Query:
    text: str
    tokens: list[str]  # lexical tokens, synonyms added
    cities: list[str] = field(default_factory=list)  # indexed cities the question names
    other_places: list[str] = field(default_factory=list)  # places named that no document is about
    broader: list[str] = field(default_factory=list)  # a prefecture or province named whose own documents are absent
    years: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # ordinals, quoted names and titles, as written
    doc_types: list[str] = field(default_factory=list)
    aggregate: bool = False
    wants_span: bool = False
    expansions: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _province_names() -> tuple[str, ...]:
    return tuple(p.name for p in gazetteer() if p.level == "province")


def expand(question: str) -> list[str]:
    """Every synonym of every dictionary term the question contains (case-insensitive)."""
    low = question.lower()
    extra: list[str] = []
    for group in synonym_groups():
        if any(term.lower() in low for term in group):
            extra.extend(t for t in group if t.lower() not in low)
    return extra


def analyze(question: str, indexed_cities: set[str], prefectures: dict[str, str] | None = None) -> Query:
    """`indexed_cities`: cities documents are about; `prefectures`: county → its prefecture."""
    prefectures = prefectures or {}
    named = list(find_places(question))
    cities, other = [], []
    broader: list[str] = []
    for place in named:
        if place in indexed_cities:
            cities.append(place)
        else:
            # a prefecture named in the question covers its indexed counties (黄石 → 大冶市)
            under = [c for c, pref in prefectures.items() if pref == place]
            if under:
                cities.extend(under)
                broader.append(place)
            else:
                other.append(place)
    # a province is never a document's city; named, it covers every indexed place inside it
    provinces = {p.province for p in map(lookup, indexed_cities) if p}
    broader += [name for name in _province_names() if name in question and name in provinces]
    years = sorted({int(y) for y in re.findall(r"((?:19|20)\d{2})\s*年?", question)})
    types = [t for t in DOC_TYPES if t in question]
    types += [v for k, v in _TYPE_WORDS.items() if k in question and v not in types]
    extra = expand(question)
    tokens = tokenize(question)
    for term in extra:
        tokens.extend(tokenize(term))
    tokens = list(dict.fromkeys(tokens))  # a repeated term must not count twice in BM25
    return Query(
        text=question,
        tokens=tokens,
        cities=list(dict.fromkeys(cities)),
        other_places=other,
        broader=broader,
        years=years,
        names=[m.group(1) or m.group(2) or m.group(0) for m in NAMED.finditer(question)],
        doc_types=types,
        aggregate=bool(AGGREGATE.search(question)),
        wants_span=bool(SPAN_WORDS.search(question)),
        expansions=extra,
    )
