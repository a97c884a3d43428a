"""Places: the gazetteer, the place names a text writes, and the place a document is about.

Names are read as whole names: the longest name first (天津市 before 津市, 黑龙江 before 龙江), and
only where a word begins and ends (幸福建设 holds no 福建). A short name that is both a province and
a city (吉林) means the province unless the text writes 吉林市; names shared by several places
(朝阳区) go to the one whose city or province the text also names.

A document's place comes first from who issued it (发文单位, the body opening its title, a body
signing it, a 文号 whose first character is a province's 简称: 津政办发 → 天津), then from what it
is about: documents rarely say "this is 大冶市", they say 我市, 全市, 来冶, name their bureau, local
landmarks, their superior city (黄石) and neighbours. Scoring weighs where a name appears (title
and issuer count most), the one-character abbreviations used with 来/在/赴 (来冶 → 大冶), and
demotes a place the text defers to as a superior ("融入……黄石市发展大局"). A document that speaks
for a whole province (全省, 省政府) is labelled with the province and no city.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

_DATA = Path(__file__).parent / "data" / "places.tsv"
_ABBREVIATIONS = Path(__file__).parent / "data" / "provinces.tsv"
LEVELS = ("province", "prefecture", "county", "district")


@dataclass(frozen=True)
class Place:
    name: str  # 大冶市
    short: str  # 大冶
    level: str  # province | prefecture | county | district
    province: str
    parent: str  # prefecture of a county or district ('' for provinces and province-run counties)

    @property
    def municipality(self) -> bool:
        """北京市, 天津市, 上海市, 重庆市: provinces that are also cities (their own province)."""
        return self.level == "province" and self.name.endswith("市")

    @property
    def provincial(self) -> bool:
        """A province that is not a city: a document of it has a province and no city."""
        return self.level == "province" and not self.municipality

    def within(self, other: Place) -> bool:
        """Whether this place lies in `other` (a place lies in itself)."""
        return other.name in (self.name, self.parent, self.province)


@lru_cache(maxsize=1)
def gazetteer() -> tuple[Place, ...]:
    rows = []
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("name\t"):
            continue
        name, short, level, province, parent, _code = line.split("\t")
        rows.append(Place(name, short, level, province, parent))
    return tuple(rows)


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, Place]:
    """简称 → province (津 → 天津市, 黑 → 黑龙江省), for 文号 prefixes."""
    provinces = {p.name: p for p in gazetteer() if p.level == "province"}
    out = {}
    for line in _ABBREVIATIONS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "abbr\t")):
            abbr, name = line.split("\t")
            out[abbr] = provinces[name]
    return out


_WORD_TAGS = {"n", "vn", "v", "a", "b", "d", "ad", "an", "m", "i", "l"}


COMMON_SHORTS = Path(__file__).parent / "data" / "common_shorts.txt"


def common_words_from_jieba() -> list[str]:
    """Short names that are everyday words (资源, 合作, 新兴) by jieba's dictionary: they count only with
    市/县 written. Reading its 350,000 lines took half a second of every fresh `ask`, so the result is
    kept in data/common_shorts.txt (scripts/places_common_words.py writes it; a test checks it is current)."""
    import jieba

    shorts = {p.short for p in gazetteer()}
    common = set()
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
        for line in f:
            word, _, rest = line.partition(" ")
            if word in shorts and rest.split()[-1] in _WORD_TAGS:
                common.add(word)
    return sorted(common)


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """common_words_from_jieba() as data/common_shorts.txt keeps it."""
    lines = COMMON_SHORTS.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@lru_cache(maxsize=1)
def forms() -> dict[str, tuple[Place, ...]]:
    """Every way a text may write a place → the places it may mean.

    Full names always; short names for provinces, prefectures and counties unless an everyday
    word; districts only in full (朝阳, 鼓楼, 新华 alone are too many things)."""
    out: dict[str, list[Place]] = {}
    common = common_words()
    for p in gazetteer():
        out.setdefault(p.name, []).append(p)
        if p.short != p.name and p.level != "district" and (p.level == "province" or p.short not in common):
            out.setdefault(p.short, []).append(p)
    return {k: tuple(v) for k, v in out.items()}


def _at_word_boundaries(text: str, a: int, b: int) -> bool:
    """Whether text[a:b] is not part of a longer word: no word of the text around it ends inside it
    (幸福|建设 holds no 福建, 黄河|南岸 no 河南), and none starts inside it and runs past its end.
    A word that starts with the name (大冶湖, 吉林大学) or holds all of it (四川省阿坝藏族羌族自治州) is
    the place's own."""
    import rjieba

    lo = max(0, a - 6)
    pos = lo
    for tok in rjieba.cut(text[lo : min(len(text), b + 6)]):
        s, e = pos, pos + len(tok)
        pos = e
        if s < a < e < b or a < s < b < e:
            return False
        if s >= b:
            break
    return True


def _whole_name(text: str, start: int, word: str) -> tuple[int, str] | None:
    """The longest name at `start` that is a whole word: 江西省级 holds 江西 (江西|省级), not 江西省."""
    for end in range(len(word), 1, -1):
        if word[:end] in forms() and _at_word_boundaries(text, start, start + end):
            return start, word[:end]
    return None


@dataclass(frozen=True)
class Mention:
    """One place name as a text writes it: where, the words, and the place understood."""

    start: int
    end: int
    written: str
    place: Place


_RANK = {"province": 0, "prefecture": 1, "county": 2, "district": 3}


def _pick(candidates: list[Place], context: set[str]) -> Place:
    """Among places of one name, the one whose city or province the text also names, else the first."""
    return max(candidates, key=lambda p: (p.parent in context) * 2 + (p.province in context))


@lru_cache(maxsize=1)
def _lengths() -> dict[str, tuple[int, ...]]:
    """First character → the lengths of the names it starts, longest first."""
    out: dict[str, set[int]] = {}
    for name in forms():
        out.setdefault(name[0], set()).add(len(name))
    return {ch: tuple(sorted(n, reverse=True)) for ch, n in out.items()}


def matches(text: str) -> Iterator[tuple[int, str]]:
    """(start, name) of every name written, leftmost-longest, before word boundaries are checked.

    Dictionary look-ups at each character: five times faster than one compiled alternation of the
    4,000 names shaped as a trie (which also took half a second to compile in every process), on
    documents as on questions; reading places was a fifth of a build's reading time with it."""
    names, lengths, i = forms(), _lengths(), 0
    while i < len(text):
        for n in lengths.get(text[i], ()):
            if text[i : i + n] in names:
                yield i, text[i : i + n]
                i += n
                break
        else:
            i += 1


def mentions(text: str) -> list[Mention]:
    """Every place name written in the text, each resolved to one place."""
    found = [span for start, word in matches(text) if (span := _whole_name(text, start, word))]
    written = {word for _, word in found}
    context = {p.name for w in written for p in forms()[w]}  # the places the text may be naming
    out = []
    for start, word in found:
        candidates = list(forms()[word])
        full = [p for p in candidates if p.name == word]
        if full:  # 吉林省, 吉林市, 天津市: the suffix says which
            place = _pick(full, context)
        else:
            provinces = [p for p in candidates if p.level == "province"]
            spelled = [p for p in candidates if p.level != "province" and p.name in written]
            if provinces and not spelled:  # bare 吉林 is the province unless the text writes 吉林市
                place = provinces[0]
            else:
                pool = spelled if provinces else candidates
                # 岳阳 alone means 岳阳市, not 岳阳县: the higher level when the suffix is absent
                top = min(_RANK[p.level] for p in pool)
                place = _pick([p for p in pool if _RANK[p.level] == top], context)
        out.append(Mention(start, start + len(word), word, place))
    return out


def find_places(text: str) -> Counter[str]:
    """Counts of every place name written in the text, keyed by full name."""
    return Counter(m.place.name for m in mentions(text))


def places_in(text: str) -> list[Place]:
    """The places a text names, in the order it first names them."""
    seen: dict[str, Place] = {}
    for m in mentions(text):
        seen.setdefault(m.place.name, m.place)
    return list(seen.values())


@lru_cache(maxsize=1)
def _by_name() -> dict[str, Place]:
    """Full and short names to the first place (in gazetteer order: provinces first) that has them."""
    out: dict[str, Place] = {}
    for p in gazetteer():
        out.setdefault(p.name, p)
        out.setdefault(p.short, p)
    return out


def lookup(name: str) -> Place | None:
    """Called per question word on the query path: a dict, not a scan of 4,000 places."""
    return _by_name().get(name)


def most_specific(places: list[Place]) -> Place | None:
    """The innermost of a chain the text names in order (泰州市海陵区 → 海陵区); the first otherwise."""
    if not places:
        return None
    best = places[0]
    for p in places[1:]:
        if p.within(best) and p.name != best.name:
            best = p
    return best


def issuer_place(issuer: str) -> Place | None:
    """The place an issuing body names: 天津市人民政府办公厅 → 天津市, 黑龙江省财政厅 → 黑龙江省."""
    return most_specific(places_in(issuer)) if issuer else None


def number_place(doc_number: str) -> Place | None:
    """The province a 文号's 简称 names (津政办发 → 天津市, 黑财 → 黑龙江省, 沪府 → 上海市), when no
    city's short name starts the same way (湘潭 is not 湘)."""
    prefix = re.split(r"[〔\[［【(（]", doc_number or "")[0]
    if len(prefix) < 2 or prefix[0] not in abbreviations():
        return None
    if any(s.startswith(prefix[:2]) for s in forms() if len(s) >= 2):
        return None
    return abbreviations()[prefix[0]]


# Characters too common to stand for a place on their own (在阳光下, 来大家): never abbreviations.
_COMMON_CHARS = set("州阳山江城宁安水石大小东西南北新长中平德广海台通利化明光华兴")
# Who the text speaks as: a city or county (我市, 全县, 市政府) or a whole province (全省, 省政府).
_LOCAL_VOICE = re.compile(r"我市|全市|本市|市委|市政府|我县|全县|本县|县委|县政府|我区|区委|区政府")
_PROVINCIAL_VOICE = re.compile(r"我省|全省|本省|省委|省政府|省人民政府|自治区党委|自治区人民政府|全自治区")


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


def _refined(place: Place, title: str) -> Place:
    """An issuer's place, narrowed to a place inside it that the title is about (黄石市科技局关于大冶市…)."""
    inside = [p for p in places_in(title) if p.within(place) and p.name != place.name]
    return most_specific(inside) or place


def infer_city(text: str, title: str = "", issuer: str = "", doc_number: str = "") -> Place | None:
    """The place a document is about (any level: a provincial document gets its province).

    `issuer` is the body that issued it, when the document says (发文单位, the body opening its
    title or signing it): its place decides, whatever else the text names in passing."""
    own_issuer = issuer_place(issuer)
    if own_issuer:
        return _refined(own_issuer, title)
    by_number = number_place(doc_number)
    found = mentions(text)
    if not found:
        return by_number
    counts = Counter(m.place.name for m in found)
    places = {m.place.name: m.place for m in found}
    # place names removed, so 在大冶 is not read as 在大 (the gaps between matches: no second pass)
    ends = [0] + [m.end for m in found]
    bare = "".join(text[a : m.start] for a, m in zip(ends, found)) + text[ends[-1] :]
    head = text[:600]
    scores: Counter[str] = Counter()
    for name, n in counts.items():
        p = places[name]
        s = float(n)
        if p.short in title or p.name in title:
            s += 8
        if by_number and p.name == by_number.name:
            s += 6
        elif doc_number and not by_number and doc_number.startswith(p.short[0]):
            s += 3
        if not p.provincial:
            own, organ, superior = _cues(re.escape(p.short))
            s += 2 * len(own.findall(text))
            s += 1.5 * len(organ.findall(head))
            if p.level != "province":
                for ch in set(p.short) - _COMMON_CHARS:
                    s += 2 * len(_arrival(ch).findall(bare))
            s -= 3 * len(superior.findall(text))
        scores[name] = s
    best_city = max((n for n in scores if not places[n].provincial), key=lambda n: scores[n], default=None)
    # the province whose places the text names most (湖北省 itself, or 武汉、襄阳、宜昌)
    weight: Counter[str] = Counter()
    for name, s in scores.items():
        weight[places[name].province] += max(s, 0.0)
    home = _province(weight.most_common(1)[0][0]) if weight else None
    if home and home.provincial and len(_PROVINCIAL_VOICE.findall(text)) > len(_LOCAL_VOICE.findall(text)):
        city = places[best_city] if best_city else None
        # a document speaking for its province (全省, 省政府), naming its cities in passing
        if city is None or scores[best_city] < 2 or not city.within(home) or scores[home.name] >= scores[best_city]:
            return home
    if best_city and scores[best_city] >= 2:
        return places[best_city]
    if home and home.provincial and scores[home.name] >= 2:
        return home
    return by_number


def _province(name: str) -> Place | None:
    return next((p for p in forms().get(name, ()) if p.level == "province"), None)
