"""Place names read as whole names: the gazetteer itself supplies every homonym and substring pair."""

from __future__ import annotations

import re
from pathlib import Path

from policyqa.corpus.places import (
    Place,
    abbreviations,
    common_words,
    common_words_from_jieba,
    forms,
    gazetteer,
    infer_city,
    matches,
    mentions,
    number_place,
)


def _context(p: Place) -> str:
    """What a text writes before a place that shares its name with another: its city, else its province."""
    return p.parent or (p.province if p.province != p.name else "")


def _understood(text: str) -> list[str]:
    return [m.place.name for m in mentions(text)]


def test_every_homonym_and_substring_pair_in_the_gazetteer_is_told_apart():
    """For each place, every other place whose name or short name lies inside its full name (天津市 holds
    津市, 黑龙江省 龙江) or equals it (two 朝阳区): written in full after its city or province, the place is
    read as itself, once, and as nothing inside it."""
    pairs, wrong = 0, []
    for p in gazetteer():
        inside = {q.name for f, qs in forms().items() if f in p.name for q in qs if q != p}
        if not inside:
            continue
        pairs += len(inside)
        ctx = _context(p)
        found = mentions(ctx + p.name)
        last = found[-1] if found else None
        if last is None or last.place != p or last.start != len(ctx) or any(m.place.name in inside - {p.name}
                                                                               for m in found if m.start >= len(ctx)):
            wrong.append(f"{ctx}{p.name} → {[(m.written, m.place.name, m.place.parent) for m in found]}")
    print(f"{pairs} homonym and substring pairs walked")
    assert pairs > 300, pairs  # the gazetteer has hundreds (397): a small count means the walk broke
    assert not wrong, f"{len(wrong)} of {pairs} pairs confused: " + "; ".join(wrong[:20])


def test_short_names_that_hold_another_place_read_as_their_own_place():
    """黑龙江 is never 龙江, 内蒙古 never 蒙古; a short name shared by several places means the highest of them."""
    walked, wrong = 0, []
    for short, places in forms().items():
        if any(p.name == short for p in places):
            continue  # a full name: the test above
        inner = [f for f in forms() if f != short and f in short]
        if not inner:
            continue
        walked += 1
        got = mentions(short)
        if len(got) != 1 or got[0].place.short != short:
            wrong.append(f"{short} → {[(m.written, m.place.name) for m in got]}")
    print(f"{walked} short names holding another place's name walked")
    assert walked > 20 and not wrong, wrong[:20]


def test_the_issue_s_cases():
    assert _understood("天津市科技局") == ["天津市"]
    assert _understood("黑龙江省财政厅") == ["黑龙江省"]
    assert _understood("吉林省人民政府") == ["吉林省"] and _understood("吉林") == ["吉林省"]
    assert _understood("吉林市和吉林") == ["吉林市", "吉林市"]  # a bare 吉林 is the city where the text says 吉林市
    assert _understood("海南省与海南藏族自治州") == ["海南省", "海南藏族自治州"]
    assert _understood("江西省和广西") == ["江西省", "广西壮族自治区"]
    assert _understood("泰州市海陵区") == ["泰州市", "海陵区"]
    assert _understood("幸福建设在黄河南岸") == []  # no 福建, no 河南: names start and end where words do


def test_homonymous_districts_go_to_the_city_the_text_names():
    assert mentions("北京市朝阳区")[-1].place.parent == "北京市"
    assert mentions("长春市朝阳区")[-1].place.parent == "长春市"


def test_all_provincial_divisions_with_their_short_forms_and_abbreviations():
    provinces = [p for p in gazetteer() if p.level == "province"]
    assert len(provinces) == 34
    assert {p.name for p in provinces if p.municipality} == {"北京市", "天津市", "上海市", "重庆市"}
    assert set(abbreviations().values()) == set(provinces)
    for p in provinces:
        assert _understood(p.name) == [p.name] and _understood(p.short) == [p.name]


def test_a_doc_number_names_its_province_by_its_abbreviation():
    assert number_place("津政办发〔2023〕12号").name == "天津市"
    assert number_place("黑财〔2022〕3号").name == "黑龙江省"
    assert number_place("沪府〔2021〕5号").name == "上海市"
    assert number_place("咸科技发〔2021〕1号") is None  # 咸宁: no province's abbreviation


def test_the_issuer_outweighs_places_named_in_passing():
    text = "组织企业赴武汉学习考察，借鉴武汉光谷、武汉东湖高新区经验。全市平台达到120个。"
    assert infer_city(text, title="关于印发科技创新平台建设方案的通知", issuer="内江市人民政府办公室").name == "内江市"
    assert infer_city(text).name == "武汉市"  # without its issuer the text alone decides


def test_a_provincial_document_is_labelled_at_province_level():
    text = "全省上下要把科技创新摆在核心位置。省政府支持武汉建设科技创新中心，支持襄阳、宜昌建设省域科技创新中心。"
    place = infer_city(text)
    assert place.name == "湖北省" and place.provincial


def test_the_kept_common_words_are_jiebas():
    """data/common_shorts.txt is what jieba's dictionary says today: a changed places.tsv or jieba fails here
    until `.venv/bin/python scripts/places_common_words.py` writes it again."""
    assert common_words() == frozenset(common_words_from_jieba())
    assert {"资源", "合作"} <= common_words() and "荆州" not in common_words()


def _leftmost_longest(words: list[str]) -> re.Pattern[str]:
    """Another way to the same matches: one alternation of the names shaped as a trie
    (咸(?:宁(?:市)?|丰县?)…), greedy, so `re` finds the leftmost match and the longest name there."""
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
        return "(?:" + "|".join(kids) + ")" + ("?" if "" in node else "")

    return re.compile(emit(trie))


def test_names_are_found_leftmost_longest():
    """The look-ups find what a leftmost-longest regular expression of every name finds, on every seed and
    evaluation document and on every name of the gazetteer written in a sentence (the longer name first:
    天津市 not 津市市 in 在天津市)."""
    repo = Path(__file__).resolve().parents[2]
    texts = [p.read_text(encoding="utf-8") for folder in ("documents", "eval/places/docs", "eval/lifecycle/documents")
             for p in sorted((repo / folder).glob("*.txt"))]
    texts += [f"在{name}工作，来{name}发展" for name in forms()]
    pattern = _leftmost_longest(list(forms()))
    for text in texts:
        assert list(matches(text)) == [(m.start(), m.group(0)) for m in pattern.finditer(text)], text[:40]
    assert list(matches("天津市科技局")) == [(0, "天津市")]
