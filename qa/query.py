"""What a question asks, beyond its words: places, years, document types, the kind of answer.

A place named in the question (a province, city, county or district, read as a whole name:
天津市 is never 津市市) is a preference: its documents rank first, documents with no place stay
eligible after them (qa/search.py), and the answer says what was understood; a year or
document type named boosts matching documents. Synonyms and
abbreviations from an editable dictionary widen the lexical query (高企 → 高新技术企业).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from policyqa.corpus.metadata import DOC_TYPES
from policyqa.corpus.places import lookup, places_in
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
    cities: list[str] = field(default_factory=list)  # indexed cities the question names or covers
    places: list[str] = field(default_factory=list)  # every place understood, full names (天津市, 吉林省, 海陵区)
    other_places: list[str] = field(default_factory=list)  # places named that no document is about
    broader: list[str] = field(default_factory=list)  # a prefecture or province named whose own documents are absent
    years: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # ordinals, quoted names and titles, as written
    doc_types: list[str] = field(default_factory=list)
    aggregate: bool = False
    wants_span: bool = False
    expansions: list[str] = field(default_factory=list)


def expand(question: str) -> list[str]:
    """Every synonym of every dictionary term the question contains (case-insensitive)."""
    low = question.lower()
    extra: list[str] = []
    for group in synonym_groups():
        if any(term.lower() in low for term in group):
            extra.extend(t for t in group if t.lower() not in low)
    return extra


def _inside(city: str, place: str, prefectures: dict[str, str]) -> bool:
    """Whether an indexed city lies in a named place (its prefecture, or its province)."""
    p = lookup(city)
    return prefectures.get(city) == place or bool(p and p.province == place)


def analyze(question: str, indexed_cities: set[str], prefectures: dict[str, str] | None = None) -> Query:
    """`indexed_cities`: cities documents are about; `prefectures`: county → its prefecture."""
    prefectures = prefectures or {}
    named = places_in(question)
    cities, other = [], []
    broader: list[str] = []
    for place in named:
        # a prefecture covers its indexed counties (黄石 → 大冶市), a province every indexed place in it
        under = [c for c in sorted(indexed_cities) if c != place.name and _inside(c, place.name, prefectures)]
        if place.name in indexed_cities:
            cities.append(place.name)
        if under:
            cities.extend(under)
            if place.name not in indexed_cities:  # 天津市 with its own documents is not only its districts
                broader.append(place.name)
        elif place.name not in indexed_cities:
            other.append(place.name)
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
        places=[p.name for p in named],
        other_places=other,
        broader=broader,
        years=years,
        names=[m.group(1) or m.group(2) or m.group(0) for m in NAMED.finditer(question)],
        doc_types=types,
        aggregate=bool(AGGREGATE.search(question)),
        wants_span=bool(SPAN_WORDS.search(question)),
        expansions=extra,
    )
