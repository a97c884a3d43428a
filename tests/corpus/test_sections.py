"""Section paths and passages on the real seed documents."""

from __future__ import annotations

import pytest

from policyqa.corpus.loaders import load
from policyqa.corpus.metadata import extract
from policyqa.corpus.reader import read_corpus
from policyqa.corpus.sections import ChunkParams, find_headings, pack, passages
from tests.support.seeds import SEEDS, seed_file


@pytest.fixture(scope="module")
def seed_docs():
    docs, skipped = read_corpus(SEEDS)
    assert not skipped
    return {d.source.split("-")[0]: d for d in docs}


def _paths(doc):
    return [p.section for p in doc.passages]


def test_every_passage_is_exactly_the_document_text(seed_docs):
    for doc in seed_docs.values():
        for p in doc.passages:
            assert doc.text[p.start : p.end] == p.body
            assert len(p.body) <= 512
            assert p.section[0] == doc.meta.title


def test_passages_end_at_sentence_ends(seed_docs):
    for doc in seed_docs.values():
        for p in doc.passages:
            nxt = doc.text[p.end : p.end + 1]
            # a passage ends at 。！？； or at a line end, never mid-sentence
            assert p.body[-1] in "。！？；;!?”）)" or nxt in ("", "\n"), (doc.source, p.body[-20:])


def test_nested_official_outline_yueyang(seed_docs):
    paths = _paths(seed_docs["岳阳"])
    assert ["我市科技工作现状", "优化创新生态、营造发展环境", "深化科技体制改革"] in [p[1:] for p in paths]
    # "1." after "二、" with no （一） in between still nests under 二、
    assert ["存在的主要问题", "地方财政支持力度不够"] in [p[1:] for p in paths]


def test_run_in_headings_xianning(seed_docs):
    paths = [p[1:] for p in _paths(seed_docs["咸宁"])]
    assert ["实现目标考评争先进位"] in paths and ["强化农业科技创新支撑"] in paths


def test_news_style_standalone_titles_jingzhou(seed_docs):
    paths = [p[1:] for p in _paths(seed_docs["荆州"])]
    assert ["科技创新顶层设计不断完善"] in paths
    assert ["科技助力乡村振兴"] in paths


def test_chapter_and_article_markers():
    text = (
        "第一章 总则\n第一条 为促进科技成果转化，制定本办法。\n第二条 本办法适用于全县。\n"
        "第二章 支持措施\n第三条 对新认定的高新技术企业给予奖励。"
    )
    heads = find_headings(text)
    assert [(h.level, h.text) for h in heads] == [(1, "总则"), (2, "第一条"), (2, "第二条"), (1, "支持措施"), (2, "第三条")]


def test_long_sentence_is_split_only_when_it_must_be():
    body = "甲" * 300 + "。" + "乙" * 300 + "。" + "丙" * 1200 + "。"
    spans = pack(body, 0, len(body), ChunkParams(max_chars=512))
    assert spans[0] == (0, 301) and spans[1] == (301, 602)
    assert all(b - a <= 512 for a, b in spans) and spans[-1][1] == len(body)


def test_heading_path_is_in_the_indexed_text_not_the_body():
    ex = load(seed_file("咸宁"))
    meta = extract(ex, "x.txt")
    p = next(p for p in passages("d", ex, meta.title) if "科技特派员" in p.body)
    assert p.indexed_text.startswith("2021年全市科技工作要点 > 强化农业科技创新支撑\n")
    assert p.indexed_text.endswith(p.body)
