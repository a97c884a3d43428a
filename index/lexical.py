"""Chinese BM25: jieba in search mode with a domain dictionary, scored over segment postings.

Each segment stores term-frequency postings written once at index time; a query tokenizes
the question and reads the postings of its terms only. Question words and filler (哪些, 什么, 情况, 有关)
are dropped so they cannot outweigh the terms that carry the question.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
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


K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene"), which the index used before segments


@dataclass
class Postings:
    """One segment's term-major postings (raw term frequencies) and row lengths."""

    vocab: dict[str, int]
    ptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray
    offset: int  # the segment's first row in the index's row numbering

    @property
    def nbytes(self) -> int:
        return int(self.ptr.nbytes + self.rows.nbytes + self.tf.nbytes + self.lengths.nbytes)


class BM25:
    """BM25 (Lucene variant, as bm25s computes it) over all segments with corpus-wide statistics.

    Document frequency, the number of documents and the average length are counted over the
    live rows (not tombstoned) of every segment, so after any sequence of adds and removes the
    scores are those a from-scratch build would give. Counting df touches only the postings of
    the question's terms, which scoring reads anyway.
    """

    def __init__(self, segments: list[Postings], live: np.ndarray, k1: float = K1, b: float = B):
        self.segments = segments
        self.live = live
        self.total = int(len(live))
        self.k1, self.b = k1, b
        self.n = int(live.sum())
        length_sum = sum(float(s.lengths[live[s.offset : s.offset + len(s.lengths)]].sum()) for s in segments)
        self.avgdl = length_sum / self.n if self.n else 1.0
        self._df: dict[str, int] = {}

    def df(self, term: str) -> int | None:
        """Live passages containing `term`; None when no segment knows it."""
        if term in self._df:
            return self._df[term]
        found, df = False, 0
        for s in self.segments:
            col = s.vocab.get(term)
            if col is None:
                continue
            found = True
            rows = s.rows[s.ptr[col] : s.ptr[col + 1]]
            df += int(self.live[rows + s.offset].sum())
        out = df if found and df > 0 else None
        self._df[term] = out
        return out

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """BM25 IDF of each token (unknown tokens get a small default): 科技 counts less than 特派员."""
        out = {}
        for t in tokens:
            df = self.df(t)
            out[t] = self._idf(df) if df is not None else 0.5
        return out

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """A score per row of the index (tombstoned rows 0); a repeated token counts again, as in bm25s."""
        out = np.zeros(self.total, dtype=np.float32)
        for t in query_tokens:
            df = self.df(t)
            if df is None:
                continue
            idf = np.float32(self._idf(df))
            for s in self.segments:
                col = s.vocab.get(t)
                if col is None:
                    continue
                a, z = s.ptr[col], s.ptr[col + 1]
                rows, tf = s.rows[a:z], s.tf[a:z]
                norm = self.k1 * ((1 - self.b) + self.b * s.lengths[rows] / self.avgdl)
                out[rows + s.offset] += idf * tf / (norm + tf)
        out[~self.live] = 0.0
        return out
