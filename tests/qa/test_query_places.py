"""What a question's places are understood as, and what the search does with them."""

from __future__ import annotations

from policyqa.qa.query import analyze
from policyqa.qa.search import Filters


def test_a_question_s_places_as_understood():
    indexed = {"天津市", "津市市", "龙江县", "吉林市", "大冶市"}
    assert analyze("天津市科技特派员补助多少", indexed, {}).places == ["天津市"]
    assert analyze("天津市科技特派员补助多少", indexed, {}).cities == ["天津市"]
    q = analyze("黑龙江省有哪些科技政策", indexed, {})
    assert q.places == ["黑龙江省"] and q.cities == ["龙江县"] and q.broader == ["黑龙江省"]
    assert analyze("吉林省科技成果转化", indexed, {}).places == ["吉林省"]
    assert analyze("北京市的研发投入强度", indexed, {}).other_places == ["北京市"]


def test_a_place_named_is_a_preference_and_the_note_says_what_was_understood(tiny_searcher):
    a = tiny_searcher.ask("荆州2023年的重点工作", top_k=5)
    assert a.hits and a.hits[0].city == "荆州市"
    assert any(n.startswith("问题提到荆州市：优先列出荆州市的文档") for n in a.notes)


def test_a_place_with_no_documents_falls_back_to_all_of_them_with_a_note(tiny_searcher):
    a = tiny_searcher.ask("天津市的科技特派员工作站", top_k=5)
    assert a.hits  # searched everywhere
    assert any("没有天津市的文档，已在全部文档中检索" in n for n in a.notes)
    assert not any("津市市" in n for n in a.notes)


def test_an_explicit_city_filter_stays_strict(tiny_searcher):
    a = tiny_searcher.ask("天津市的科技特派员工作站", top_k=5, filters=Filters(city="岳阳"))
    assert a.hits and {h.city for h in a.hits} == {"岳阳市"}
