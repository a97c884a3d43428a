"""A question's places as a scope: a place covers the documents of every place inside it."""

from __future__ import annotations

from policyqa.corpus.types import DocMeta
from policyqa.index.backends import Scope

TIANJIN = DocMeta("t", city="天津市", province="天津市")
BINHAI = DocMeta("b", city="滨海新区", prefecture="天津市", province="天津市")
JINSHI = DocMeta("j", city="津市市", prefecture="常德市", province="湖南省")
HEILONGJIANG = DocMeta("h", province="黑龙江省")  # a provincial document: no city
LONGJIANG = DocMeta("l", city="龙江县", prefecture="齐齐哈尔市", province="黑龙江省")
NOWHERE = DocMeta("n")


def test_a_named_place_covers_its_own_and_inner_documents_only():
    tianjin = Scope(cities=("天津市",))
    assert [tianjin.admits(m) for m in (TIANJIN, BINHAI, JINSHI, NOWHERE)] == [True, True, False, False]
    province = Scope(cities=("黑龙江省",))
    assert [province.admits(m) for m in (HEILONGJIANG, LONGJIANG, JINSHI)] == [True, True, False]


def test_unlabelled_documents_join_only_when_asked_and_a_city_filter_stays_strict():
    assert Scope(cities=("天津市",), unplaced=True).admits(NOWHERE)
    assert not Scope(cities=("天津市",), unplaced=True).admits(JINSHI)
    strict = Scope(city="天津")
    assert strict.admits(BINHAI) and not strict.admits(NOWHERE) and not strict.admits(JINSHI)
    assert Scope(city="黑龙江").admits(HEILONGJIANG) and Scope(city="黑龙江").admits(LONGJIANG)
