"""Chinese BM25: jieba's search mode (jieba-rs) with a domain dictionary, scored over segment postings.

Each segment stores term-frequency postings written once at index time; a query tokenizes
the question and reads the postings of its terms only. Question words and filler (哪些, 什么, 情况, 有关)
are dropped so they cannot outweigh the terms that carry the question.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

_DATA = Path(__file__).parent / "data"
_USER_DICT = _DATA / "userdict.txt"
# Domain abbreviations and synonyms: qa/query.py expands questions with the groups, and every
# term is a word of the tokenizer from the start, so a passage is cut the same way in every
# process (when the words were added at the first question, a build inside a server cut its
# passages otherwise than a fresh `policyqa build`).
SYNONYMS_FILE = _DATA / "synonyms.txt"
STOPWORDS = frozenset(
    """哪些 哪个 哪几个 哪几 哪里 哪儿 哪家 哪天 哪年 什么 怎么 怎样 如何 为什么 是否 有没有 多少 几个 几家 几
    吗 呢 吧 啊 情况 有关 相关 方面 问题 内容 一些 哪 谁 是 的 了 和 与 及 或 在 对 把 被 于 以 之 其
    等 中 上 下 也 都 还 又 就 并 而 请问 介绍 一下 关于 具体 主要 有 进行 开展 做 做了 哪些地方 地方 城市
    哪些城市 分别 各 这 那 个 年 月 日 我市 全市 市""".split()
)
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
# jieba cuts a run of letters and digits holding . - _ into its alphanumeric pieces (a-league →
# a - league, 2.4km → 2.4 km); jieba-rs keeps such a run whole. Cutting it first as jieba would
# makes the two agree (README, Scale: 1,791 of 1,792 texts identical).
_PUNCTUATED_RUN = re.compile(r"[a-z0-9+#&._%\-]*[._\-][a-z0-9+#&._%\-]*")
_ALNUM = re.compile(r"([a-z0-9]+(?:\.\d+)?%?)")  # jieba's finalseg.re_skip, lowercased text
_lock = threading.Lock()


@lru_cache(maxsize=1)
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    """One group of equivalent terms per line; the first term is the canonical form."""
    groups = []
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            groups.append(tuple(line.split()))
    return tuple(groups)


@lru_cache(maxsize=1)
def _words() -> tuple[tuple[str, int | None, str | None], ...]:
    """(word, frequency, tag) the tokenizer learns beyond jieba's dictionary (read once: the
    tokenizer and its id both need them)."""
    from policyqa.corpus.places import gazetteer

    out: list[tuple[str, int | None, str | None]] = []
    for line in _USER_DICT.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts:
            out.append((parts[0], int(parts[1]) if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None))
    out += [(place.name, 2000, "ns") for place in gazetteer()]
    out += [(w, 1000, None) for group in synonym_groups() for w in group if len(w) > 1]
    return tuple(out)


@lru_cache(maxsize=1)
def tokenizer_id() -> str:
    """Recorded in the manifest: an index cut by another tokenizer or dictionary is re-read by `build`."""
    from importlib.metadata import version

    words = "\n".join(f"{w}\t{f}\t{t}" for w, f, t in _words())
    return f"rjieba-{version('rjieba')}-{hashlib.sha256(words.encode('utf-8')).hexdigest()[:12]}"


@lru_cache(maxsize=1)
def _tokenizer():
    """jieba-rs (rjieba) with jieba's dictionary, ours, place names and synonyms: no global state.

    Ten times jieba's speed with the same cuts; tokenizing was most of a build's time."""
    import rjieba

    tok = rjieba.Jieba()
    for word, freq, tag in _words():
        tok.add_word(word, freq, tag)
    return tok


def _cut_for_search(tok, text: str) -> list[str]:
    """jieba's search mode (its cut_for_search, verbatim): each word, preceded by the dictionary
    words among its 2- and 3-character pieces. jieba-rs's own search mode adds other pieces."""
    out: list[str] = []
    has = tok.has_word
    for w in tok.cut(text):
        n = len(w)
        if n > 2:
            out += [w[i : i + 2] for i in range(n - 1) if has(w[i : i + 2])]
            if n > 3:
                out += [w[i : i + 3] for i in range(n - 2) if has(w[i : i + 3])]
        out.append(w)
    return out


def tokenize(text: str, search: bool = True) -> list[str]:
    """Lowercased tokens without stopwords and punctuation. Search mode (for BM25) adds the parts
    of long words (科技特派员工作站 → 特派员, 工作站, ...); precise mode keeps each word whole."""
    tok = _tokenizer()
    text = _PUNCTUATED_RUN.sub(lambda m: " ".join(x for x in _ALNUM.split(m.group()) if x), text.lower())
    with _lock:  # one tokenizer shared by the web server's threads
        words = _cut_for_search(tok, text) if search else tok.cut(text)
    dropped = {w for w in set(words) if not w.strip() or w in STOPWORDS or not _TOKEN_OK.search(w)}  # each word once
    return [w for w in words if w not in dropped]


def term_key(term: str) -> int:
    """A term's 64-bit key (BLAKE2b), the same in every process: segments find terms by it.

    Two of a segment's terms sharing a key is a 1-in-10^7 event at 5 million terms; a question
    word sharing one with an unrelated term would add that term's postings to its BM25 score."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


_question_key = lru_cache(maxsize=4096)(term_key)  # a question's terms, looked up in every segment


class KeyedVocab:
    """A segment's vocabulary as its terms' sorted keys (a mapped array): term → term number.

    At a million passages a dict of every segment's terms held most of the postings' memory and
    took seconds to build at open; a binary search over mapped keys costs microseconds a term."""

    def __init__(self, keys: np.ndarray):
        self.keys = keys

    def get(self, term: str) -> int | None:
        k = np.uint64(_question_key(term))  # asked once per segment: hashed once per term
        i = int(np.searchsorted(self.keys, k))
        return i if i < len(self.keys) and self.keys[i] == k else None

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes)


K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene"), which the index used before segments


@dataclass
class Postings:
    """One segment's term-major postings (raw term frequencies) and row lengths."""

    vocab: dict[str, int] | KeyedVocab  # a dict for segments written before term_keys.npy
    ptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray
    offset: int  # the segment's first row in the index's row numbering

    @property
    def vocab_nbytes(self) -> int:
        """What the vocabulary holds: its keys, or (a dict) about 100 bytes a term and its text."""
        if isinstance(self.vocab, KeyedVocab):
            return self.vocab.nbytes
        return sum(100 + 2 * len(t) for t in self.vocab)


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

    def _postings(self, term: str) -> list[tuple[Postings, np.ndarray, np.ndarray]]:
        """(segment, rows, term frequencies) of every segment holding `term`: read from disk once
        for both its df and its scores."""
        out = []
        for s in self.segments:
            col = s.vocab.get(term)
            if col is not None and s.ptr[col] < s.ptr[col + 1]:
                a, z = s.ptr[col], s.ptr[col + 1]
                out.append((s, s.rows[a:z], s.tf[a:z]))
        return out

    def _count(self, term: str, postings: list[tuple[Postings, np.ndarray, np.ndarray]]) -> int | None:
        if term not in self._df:
            df = sum(int(self.live[rows + s.offset].sum()) for s, rows, _ in postings)
            self._df[term] = df if df > 0 else None
        return self._df[term]

    def df(self, term: str) -> int | None:
        """Live passages containing `term`; None when no live passage does."""
        if term in self._df:
            return self._df[term]
        return self._count(term, self._postings(term))

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
        read: dict[str, list] = {}
        for t in query_tokens:
            if t not in read:
                read[t] = self._postings(t)
            df = self._count(t, read[t])
            if df is None:
                continue
            idf = np.float32(self._idf(df))
            for s, rows, tf in read[t]:
                norm = self.k1 * ((1 - self.b) + self.b * s.lengths[rows] / self.avgdl)
                out[rows + s.offset] += idf * tf / (norm + tf)
        out[~self.live] = 0.0
        return out
