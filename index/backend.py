"""The one narrow interface through which the Searcher gets its candidates, whatever stores them.

Two backends implement it: the embedded index (segments on this machine, the default) and a
Milvus collection (index/milvus_backend.py). The Searcher asks for dense and lexical top-k
under a `Scope` (the filters and the places a question names), for the texts and documents of
the passages it keeps, for the IDF of the question's words and for the documents the refusal
rules read; how a backend filters and scores is its own business. Everything above (fusion,
answers, grouping, refusal, UI, eval) sees only this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from policyqa.corpus.places import lookup
from policyqa.corpus.types import DocMeta, Passage

BACKENDS = ("faiss", "milvus")


@dataclass(frozen=True)
class Scope:
    """Which documents a question may draw on: the user's filters, then the places it names."""

    city: str | None = None
    year: int | None = None
    doc_type: str | None = None
    cities: tuple[str, ...] = ()  # places named in the question (used only without a city filter)

    @property
    def everything(self) -> bool:
        return not (self.city or self.year or self.doc_type or self.cities)

    def city_names(self) -> set[str]:
        """The names a city filter matches exactly (a prefix of city, prefecture or province also matches)."""
        p = lookup(self.city) if self.city else None
        return ({self.city, self.city + "市", self.city + "县"} | ({p.name, p.short} if p else set())) if self.city else set()

    def admits(self, m: DocMeta) -> bool:
        """Whether a document with this metadata is in scope (the reference every backend agrees with)."""
        if self.city:
            names = self.city_names()
            if not any(k and (k in names or k.startswith(self.city)) for k in (m.city, m.prefecture, m.province)):
                return False
        if self.year and not (self.year in (m.years or []) or self.year == m.year):
            return False
        if self.doc_type and m.doc_type != self.doc_type:
            return False
        return not (not self.city and self.cities and m.city not in self.cities)


@dataclass
class Lexical:
    """BM25 candidates (best first, positive scores only) and a way to score other passages."""

    scores: np.ndarray
    ids: np.ndarray
    score_of: Callable[[list[int]], dict[int, float]] = field(default=lambda pids: {})


class Doc(Protocol):
    doc_id: str
    source: str
    meta: DocMeta

    @property
    def text(self) -> str: ...


class Backend(Protocol):
    """What a storage backend gives the Searcher. Passage ids are the backend's own integers."""

    model: str
    manifest: dict
    docs: Mapping[str, Doc]  # doc_id → document (UI listing, eval, refusal rules)
    cities: set[str]
    prefectures: dict[str, str]

    def dense(self, qvec: np.ndarray, k: int, scope: Scope) -> tuple[np.ndarray, np.ndarray]: ...

    def lexical(self, tokens: list[str], k: int, scope: Scope) -> Lexical: ...

    def similarity(self, qvec: np.ndarray, pids: list[int]) -> dict[int, float]: ...

    def prefetch(self, pids: list[int]) -> None: ...

    def passage(self, pid: int) -> Passage: ...

    def doc(self, pid: int) -> Doc: ...

    def idf(self, tokens: list[str]) -> dict[str, float]: ...

    def describe(self) -> list[str]: ...


class EmbeddedBackend:
    """The embedded index (index/loaded.py) behind the Backend interface, scoring exactly as before."""

    name = "faiss"

    def __init__(self, idx):
        self.idx = idx
        self.model = idx.model
        self.manifest = idx.manifest
        self.docs = idx.docs
        self.cities = idx.cities
        self.prefectures = idx.prefectures

    def _allowed(self, scope: Scope) -> np.ndarray | None:
        """Rows in scope (None: all live rows); predicates run once per distinct metadata value."""
        if scope.everything:
            return None
        idx = self.idx
        doc_ok = np.ones(len(idx.doc_list), dtype=bool)
        if scope.city:
            doc_ok &= idx.doc_mask(lambda m: Scope(city=scope.city).admits(m))
        if scope.year:
            doc_ok &= idx.doc_mask(lambda m: Scope(year=scope.year).admits(m), key="year")
        if scope.doc_type:
            doc_ok &= idx.doc_mask(lambda m: m.doc_type == scope.doc_type, key="type")
        if not scope.city and scope.cities:
            doc_ok &= idx.doc_mask(lambda m: m.city in scope.cities, key="city")
        if doc_ok.all():
            return None
        return doc_ok[idx.doc_of]

    def dense(self, qvec: np.ndarray, k: int, scope: Scope) -> tuple[np.ndarray, np.ndarray]:
        return self.idx.dense(qvec, k, self._allowed(scope))

    def lexical(self, tokens: list[str], k: int, scope: Scope) -> Lexical:
        scores = self.idx.bm25_scores(tokens)  # tombstoned rows score 0 and are dropped below
        allowed = self._allowed(scope)
        if allowed is not None:
            scores = np.where(allowed, scores, -1.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        top = top[np.argsort(-scores[top])]
        top = top[scores[top] > 0]
        return Lexical(scores[top], top, lambda pids: {p: float(scores[p]) for p in pids})

    def similarity(self, qvec: np.ndarray, pids: list[int]) -> dict[int, float]:
        if not pids:
            return {}
        vecs = np.vstack([self.idx.vector(int(p)) for p in pids])
        return dict(zip(pids, (vecs @ qvec[0]).tolist()))

    def prefetch(self, pids: list[int]) -> None:
        pass  # texts are read one by one from the segment stores, with a cache

    def passage(self, pid: int) -> Passage:
        return self.idx.passages[pid]

    def doc(self, pid: int):
        return self.idx.doc(pid)

    def idf(self, tokens: list[str]) -> dict[str, float]:
        return self.idx.bm25.idf(tokens)

    def describe(self) -> list[str]:
        return ["backend:    faiss (embedded segments, exact inner product; BM25 over segment postings)"]


class ClusterExtraMissing(RuntimeError):
    """pymilvus, milvus-lite or ray is not installed."""


def require(module: str, what: str) -> None:
    """Import `module` or fail in one line naming the install command."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise ClusterExtraMissing(f"{what} needs the {module} package, which is not installed; "
                                  f"install it with: pip install 'policyqa[cluster]'") from None
