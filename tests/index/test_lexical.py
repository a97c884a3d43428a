"""The BM25 tokenizer: jieba's cuts at jieba-rs's speed, the same in every process.

An index stores its passages' tokens, so two things a user would notice are pinned here: the
tokens are jieba's (what the evaluation floors were set on), and a passage is cut the same way
whether a question was asked first in the process or not (a build inside the web server must
give the postings a fresh `policyqa build` gives).
"""

from __future__ import annotations

import logging

import jieba
import pytest

from policyqa.corpus.reader import read_corpus
from policyqa.encode import tokenizer
from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.qa import query
from tests.support.indexes import indexed_copy
from tests.support.seeds import seed_file


@pytest.fixture(scope="module")
def seed_passages() -> list[str]:
    docs, _ = read_corpus(seed_file("咸宁").parent)
    return [p.indexed_text for d in docs for p in d.passages]


def test_tokens_are_jiebas_on_every_seed_passage(seed_passages):
    jieba.setLogLevel(logging.WARNING)
    ref = jieba.Tokenizer()
    for word, freq, tag in tokenizer.extra_words():
        ref.add_word(word, freq, tag)

    def jieba_tokens(text: str, search: bool) -> list[str]:
        words = ref.cut_for_search(text.lower()) if search else ref.cut(text.lower())
        return [w for w in words if w.strip() and w not in tokenizer.STOPWORDS and tokenizer.TOKEN_OK.search(w)]

    texts = seed_passages + ["a-league联赛 2.4km 增长1.5亿元 s.k.i公司 R&D投入 c++语言 100%覆盖 2010-2011年"]
    for search in (True, False):
        differing = [t for t in texts if tokenizer.tokenize(t, search) != jieba_tokens(t, search)]
        assert not differing, f"{len(differing)} of {len(texts)} differ (search={search}), first: {differing[0][:80]}"


def test_a_passage_is_cut_the_same_before_and_after_a_question():
    text = "咸宁市选派科特派深入乡村，推进校企合作和双创。"
    before = tokenizer.tokenize(text)
    assert query.expand("科特派有哪些") and query.synonym_groups()  # what a question loads
    assert tokenizer.tokenize(text) == before
    assert "科特派" in before and "校企合作" in before  # synonym terms are words from the start


def test_a_changed_tokenizer_makes_build_cut_every_passage_again(tmp_path, tiny_settings, monkeypatch):
    s = indexed_copy(tmp_path, tiny_settings)
    corpus = s.corpus_dir
    assert layout.current(s.index_dir).manifest()["tokenizer"] == tokenizer.tokenizer_id()
    assert build(s, progress=False).unchanged == 2

    monkeypatch.setattr(tokenizer, "tokenizer_id", lambda: "rjieba-test-edited-dictionary")
    report = build(s, progress=False)
    assert any("tokenizer or dictionary changed" in n for n in report.notes)
    assert sorted(report.updated) == sorted(p.name for p in corpus.iterdir()) and report.embedded == 0
    assert layout.current(s.index_dir).manifest()["tokenizer"] == "rjieba-test-edited-dictionary"
