"""Metadata of the five seeds, inferred from their text (never from their file names)."""

from __future__ import annotations

import shutil

import pytest

from policyqa.corpus.loaders import load
from policyqa.corpus.metadata import extract
from tests.support.seeds import CITY_OF_SEED, seed_file


@pytest.mark.parametrize("short,city", sorted(CITY_OF_SEED.items()))
def test_city_of_every_seed_from_text_alone(tmp_path, short, city):
    neutral = tmp_path / "document.txt"  # the file name says nothing
    shutil.copy(seed_file(short), neutral)
    meta = extract(load(neutral), "document.txt")
    assert meta.city == city


def test_daye_never_names_itself_but_is_found_under_huangshi(tmp_path):
    text = seed_file("大冶").read_text(encoding="utf-8")
    assert "大冶市" not in text.split("\n")[0]
    meta = extract(load(seed_file("大冶")), "x.txt")
    assert (meta.city, meta.prefecture, meta.province) == ("大冶市", "黄石市", "湖北省")
    assert meta.year == 2024 and meta.doc_type == "进展汇报"


def test_header_fields_xianning():
    meta = extract(load(seed_file("咸宁")), "x.txt")
    assert meta.title == "2021年全市科技工作要点"
    assert meta.doc_number == "咸科技发〔2021〕1号"
    assert meta.issuer == "咸宁市科学技术局"
    assert meta.date == "2021-03-04" and meta.year == 2021
    assert meta.doc_type == "工作要点"


def test_types_and_titles_of_the_other_seeds():
    gs = extract(load(seed_file("广水")), "x.txt")
    assert (gs.title, gs.doc_type) == ("广水市2022年科技创新工作方案", "工作方案")
    assert (gs.doc_number, gs.date) == ("广政办函〔2022〕8号", "2022-05-05")
    assert gs.province == "湖北省" and gs.prefecture == "随州市"
    yy = extract(load(seed_file("岳阳")), "x.txt")
    assert yy.doc_type == "提案答复" and yy.issuer == "岳阳市科学技术局" and yy.province == "湖南省" and yy.year == 2022
    jz = extract(load(seed_file("荆州")), "x.txt")
    assert jz.doc_type == "新闻报道" and jz.title.startswith("激发科技创新活力") and jz.years == [2022, 2023]
    assert jz.doc_number is None  # the 文号 of a plan it cites is not its own


def test_title_falls_back_to_the_file_name_when_the_text_has_none():
    meta = extract(load(seed_file("大冶")), "大冶-2024年1-3季度科创引领工作进展汇报.txt")
    assert meta.title == "大冶-2024年1-3季度科创引领工作进展汇报"
