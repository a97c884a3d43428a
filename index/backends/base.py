"""The one narrow interface through which the Searcher gets its candidates, whatever stores them.

Two backends implement it: the embedded index (segments on this machine, the default) and a
Milvus collection (index/backends/milvus/search.py). The Searcher asks for dense and lexical top-k
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

from policyqa.config import Settings
from policyqa.corpus.places import lookup
from policyqa.corpus.types import DocMeta, Passage
from policyqa.encode.encoders import Encoder

BACKENDS = ("faiss", "milvus")


@dataclass(frozen=True)
class Scope:
    """Which documents a question may draw on: the user's filters, then the places it names."""

    city: str | None = None
    year: int | None = None
    doc_type: str | None = None
    cities: tuple[str, ...] = ()  # places named in the question, full names (used only without a city filter)
    unplaced: bool = False  # with `cities`: documents with no place label are admitted too

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
        # a named place covers documents of it and of every place inside it (湖北省 → 大冶市, 天津市 → 和平区)
        if self.city or not self.cities:
            return True
        return bool({m.city, m.prefecture, m.province} & set(self.cities)) or (self.unplaced and not (m.city or m.province))


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
    pending: int  # live passages whose vectors a build has not published yet: dense search leaves them out

    def dense(self, qvec: np.ndarray, k: int, scope: Scope) -> tuple[np.ndarray, np.ndarray]: ...

    def lexical(self, tokens: list[str], k: int, scope: Scope) -> Lexical: ...

    def similarity(self, qvec: np.ndarray, pids: list[int]) -> dict[int, float]: ...

    def prefetch(self, pids: list[int]) -> None: ...

    def passage(self, pid: int) -> Passage: ...

    def doc(self, pid: int) -> Doc: ...

    def idf(self, tokens: list[str]) -> dict[str, float]: ...

    def describe(self) -> list[str]: ...

    def library(self) -> object:
        """What qa/lifecycle.Catalog reads: a Library, or (doc_id, metadata) pairs of every live document."""


class Handle(Protocol):
    """A backend kept current: `current()` is the newest published state (a build may publish while a
    server answers), and `encoder()` encodes questions as that state's passages were encoded."""

    settings: Settings

    def current(self) -> Backend: ...

    @property
    def index(self): ...  # what the UI lists and evaluations read: the LoadedIndex, or the Milvus backend

    def encoder(self, backend: Backend) -> Encoder: ...
