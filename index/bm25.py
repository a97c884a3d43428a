"""BM25 (the Lucene variant bm25s computes) over segment postings: the one home of the formula.

Each segment stores term-frequency postings written once at index time; a question reads the
postings of its terms only. Every backend scores with the functions here (`idf`, `term_weight`),
so the embedded index and Milvus rank alike.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


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
UNKNOWN_IDF = 0.5  # a question word no live passage holds: counts a little in the answering sentence


def idf(n: int, df: int) -> float:
    """Lucene's IDF: never negative, so a word in most passages still counts a little."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def length_norm(length, avgdl: float, k1: float = K1, b: float = B):
    """k1 · (1 − b + b · length / avgdl): how much a long passage's term counts are discounted."""
    return k1 * ((1 - b) + b * length / avgdl)


def term_weight(tf, norm):
    """The document side of a term's score, tf / (tf + norm); its IDF is the question side."""
    return tf / (norm + tf)


@dataclass
class Postings:
    """One segment's term-major postings (raw term frequencies) and row lengths."""

    vocab: KeyedVocab
    ptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray
    offset: int  # the segment's first row in the index's row numbering


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

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """BM25 IDF of each token (unknown tokens get a small default): 科技 counts less than 特派员."""
        out = {}
        for t in tokens:
            df = self.df(t)
            out[t] = idf(self.n, df) if df is not None else UNKNOWN_IDF
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
            weight = np.float32(idf(self.n, df))
            for s, rows, tf in read[t]:
                norm = length_norm(s.lengths[rows], self.avgdl, self.k1, self.b)
                out[rows + s.offset] += weight * tf / (norm + tf)  # term_weight's, in the order that keeps its float32 bits
        out[~self.live] = 0.0
        return out
