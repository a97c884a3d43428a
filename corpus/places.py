"""Which city or county a document is about, inferred from its text alone.

Documents rarely say "this is 大冶市": they say 我市, 全市, 来冶, 在冶, name their issuing bureau,
a 文号 abbreviation (咸科技发), or local landmarks (大冶湖高新区). They also name their superior
city (黄石) and neighbours. Scoring weighs where a name appears (title and issuer count most),
the one-character abbreviations used with 来/在/赴 (来冶 → 大冶), and demotes a place the text
defers to as a superior ("融入……黄石市发展大局").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

_DATA = Path(__file__).parent / "data" / "places.tsv"


@dataclass(frozen=True)
class Place:
    name: str  # 大冶市
    short: str  # 大冶
    level: str  # province | prefecture | county
    province: str
    parent: str  # prefecture of a county ('' for provinces and province-run counties)


@lru_cache(maxsize=1)
def gazetteer() -> tuple[Place, ...]:
    rows = []
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("name\t"):
            continue
        name, short, level, province, parent, _code = line.split("\t")
        rows.append(Place(name, short, level, province, parent))
    return tuple(rows)


_WORD_TAGS = {"n", "vn", "v", "a", "b", "d", "ad", "an", "m", "i", "l"}


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Short names that are everyday words (资源, 合作, 新兴): they count only with 市/县 written."""
    import jieba

    shorts = {p.short for p in gazetteer()}
    common = set()
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
        for line in f:
            word, _, rest = line.partition(" ")
            if word in shorts and rest.split()[-1] in _WORD_TAGS:
                common.add(word)
    return frozenset(common)


@lru_cache(maxsize=1)
def _by_short() -> dict[str, list[Place]]:
    out: dict[str, list[Place]] = {}
    common = _common_words()
    for p in gazetteer():
        if p.level != "province":
            if p.short not in common:
                out.setdefault(p.short, []).append(p)
            if p.name != p.short:
                out.setdefault(p.name, []).append(p)
    return out


def _trie_regex(words: list[str]) -> re.Pattern[str]:
    """One alternation shaped as a trie (咸(?:宁(?:市)?|丰县?)…): the same leftmost-longest matches as
    the names sorted longest first, but `re` tries one branch per character instead of thousands
    of names at every position that could start one."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        kids = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not kids:
            return ""
        return "(?:" + "|".join(kids) + ")" + ("?" if "" in node else "")  # greedy: the longer name first

    return re.compile(emit(trie))


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    return _trie_regex(list(_by_short()))


def _counts(matches: list[re.Match[str]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for m in matches:
        word = m.group(0)
        places = _by_short()[word]
        chosen = [p for p in places if p.name == word] or places
        # 岳阳 alone means 岳阳市, not 岳阳县: prefer the higher level when the suffix is absent
        chosen = sorted(chosen, key=lambda p: p.level != "prefecture")[:1]
        counts[chosen[0].name] += 1
    return counts


def find_places(text: str) -> Counter[str]:
    """Counts of every city or county name written in the text, keyed by full name."""
    return _counts(list(_pattern().finditer(text)))


@lru_cache(maxsize=1)
def _by_name() -> dict[str, Place]:
    """Full and short names to the first place (in gazetteer order) that has them; no provinces."""
    out: dict[str, Place] = {}
    for p in gazetteer():
        if p.level != "province":
            out.setdefault(p.name, p)
            out.setdefault(p.short, p)
    return out


def lookup(name: str) -> Place | None:
    """Called per question word on the query path: a dict, not a scan of 3,000 places."""
    return _by_name().get(name)


# Characters too common to stand for a place on their own (在阳光下, 来大家): never abbreviations.
_COMMON_CHARS = set("州阳山江城宁安水石大小东西南北新长中平德广海台通利化明光华兴")


@cache
def _cues(short: str) -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """The patterns infer_city tries for one place, compiled once: thousands of places overflow
    `re`'s own cache of 512, and recompiling them was a third of reading a document."""
    own = re.compile(rf"(?:我市|全市|本市){short}|{short}(?:市)?(?:全市|我市)")
    organ = re.compile(rf"{short}(?:市)?(?:委|市委|市政府|县委|县政府|科技局|科学技术局)")
    # how often the text defers to `short` as its superior (融入……黄石市发展大局, 黄石市科技局建立)
    superior = re.compile(
        rf"(?:融入|对接|服从|服务于?|落实)[^。，,]{{0,20}}?{short}(?:市)?(?:委|政府)?(?:发展|部署|要求|大局|产业)"
        rf"|{short}(?:市)?(?:科技局|科学技术局)(?:建立|下达)|{short}赛区"
    )
    return own, organ, superior


@cache
def _arrival(ch: str) -> re.Pattern:
    """A one-character abbreviation after a movement verb: 来冶、在冶、赴荆."""
    return re.compile(rf"[来在赴驻留回落]{ch}")


def infer_city(text: str, title: str = "", issuer: str = "", doc_number: str = "") -> Place | None:
    head = text[:600]
    matches = list(_pattern().finditer(text))
    if not matches:
        return None
    counts = _counts(matches)
    # place names removed, so 在大冶 is not read as 在大 (the gaps between matches: no second pass)
    ends = [0] + [m.end() for m in matches]
    bare = "".join(text[a : m.start()] for a, m in zip(ends, matches)) + text[ends[-1] :]
    scores: Counter[str] = Counter()
    for name, n in counts.items():
        p = next(x for x in _by_short()[name] if x.name == name)
        s = float(n)
        if p.short in title or p.name in title:
            s += 8
        if issuer and (p.short in issuer):
            s += 8
        if doc_number and doc_number.startswith(p.short[0]):
            s += 3
        own, organ, superior = _cues(p.short)
        s += 2 * len(own.findall(text))
        s += 1.5 * len(organ.findall(head))
        for ch in set(p.short) - _COMMON_CHARS:
            s += 2 * len(_arrival(ch).findall(bare))
        s -= 3 * len(superior.findall(text))
        scores[name] = s
    best, score = scores.most_common(1)[0]
    if score < 2:
        return None
    return next(x for x in _by_short()[best] if x.name == best)
