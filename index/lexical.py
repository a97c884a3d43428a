"""Chinese BM25: jieba in search mode with a domain dictionary, scored by bm25s.

The BM25 matrix is built once, at index time, and saved beside the vectors; a query only
tokenizes the question and reads columns. Question words and filler (哪些, 什么, 情况, 有关)
are dropped so they cannot outweigh the terms that carry the question.
"""

from __future__ import annotations

import math
import re
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

_USER_DICT = Path(__file__).parent / "data" / "userdict.txt"
STOPWORDS = frozenset(
    """哪些 哪个 哪几个 哪几 哪里 哪儿 哪家 哪天 哪年 什么 怎么 怎样 如何 为什么 是否 有没有 多少 几个 几家 几
    吗 呢 吧 啊 情况 有关 相关 方面 问题 内容 一些 哪 谁 是 的 了 和 与 及 或 在 对 把 被 于 以 之 其
    等 中 上 下 也 都 还 又 就 并 而 请问 介绍 一下 关于 具体 主要 有 进行 开展 做 做了 哪些地方 地方 城市
    哪些城市 分别 各 这 那 个 年 月 日 我市 全市 市""".split()
)
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer():
    """A private jieba.Tokenizer with our dictionary and place names: no global jieba state."""
    import logging

    import jieba

    from policyqa.corpus.places import gazetteer

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    tok.load_userdict(str(_USER_DICT))
    for place in gazetteer():
        tok.add_word(place.name, 2000, "ns")
    return tok


def tokenize(text: str, search: bool = True) -> list[str]:
    """Lowercased tokens without stopwords and punctuation. Search mode (for BM25) adds the parts
    of long words (科技特派员工作站 → 特派员, 工作站, ...); precise mode keeps each word whole."""
    tok = _tokenizer()
    with _lock:  # jieba's tokenizer is not thread-safe (the web server queries from threads)
        words = list(tok.cut_for_search(text.lower()) if search else tok.cut(text.lower()))
    return [w for w in words if w.strip() and w not in STOPWORDS and _TOKEN_OK.search(w)]


def add_words(words: list[str]) -> None:
    """Teach the tokenizer extra terms (synonym dictionary entries) so they stay whole."""
    tok = _tokenizer()
    with _lock:
        for w in words:
            tok.add_word(w, 1000)


class BM25:
    """bm25s over pre-tokenized passages."""

    def __init__(self, retriever=None):
        self._r = retriever

    @classmethod
    def build(cls, corpus_tokens: list[list[str]]) -> BM25:
        import bm25s

        r = bm25s.BM25()
        r.index([t or ["\u3000"] for t in corpus_tokens], show_progress=False)
        return cls(r)

    def save(self, folder: Path) -> None:
        self._r.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> BM25:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), show_progress=False, verbosity=0))

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """BM25 IDF of each token (unknown tokens get a small default): 科技 counts less than 特派员."""
        n = max(1, self._r.scores["num_docs"])
        indptr, vocab = self._r.scores["indptr"], self._r.vocab_dict
        out = {}
        for t in tokens:
            col = vocab.get(t)
            df = int(indptr[col + 1] - indptr[col]) if col is not None else None
            out[t] = math.log(1 + (n - df + 0.5) / (df + 0.5)) if df is not None else 0.5
        return out

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        vocab = self._r.vocab_dict
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return np.zeros(self._r.scores["num_docs"], dtype=np.float32)
        return np.asarray(self._r.get_scores(known), dtype=np.float32)
