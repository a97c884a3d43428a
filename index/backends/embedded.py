"""The embedded index (segments on this machine, index/store/) behind the Backend interface.

`EmbeddedHandle` keeps one loaded commit and swaps in a newer one when a build publishes it;
segments the two share are reused, not reopened. Whether the index can be queried with this
model, chunker and encoder is index/usable.py's call, made once per commit.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from policyqa.config import Settings
from policyqa.corpus.types import Passage
from policyqa.encode.encoders import Encoder
from policyqa.index import usable
from policyqa.index.backends.base import Lexical, Scope
from policyqa.index.store.loaded import LoadedIndex, is_stale, load
from policyqa.index.usable import Target

MASKS_KEPT = 8


class EmbeddedBackend:
    """A loaded commit answering as a Backend: filters as row masks, BM25 over its postings, exact or ANN vectors."""

    name = "faiss"

    def __init__(self, idx):
        self.idx = idx
        self.model = idx.model
        self.manifest = idx.manifest
        self.docs = idx.docs
        self.cities = idx.cities
        self.prefectures = idx.prefectures
        self.pending = idx.pending
        self._masks: dict[Scope, np.ndarray | None] = {}  # a generation's recent scopes → _allowed (read-only arrays)
        self._masks_lock = threading.Lock()

    def _allowed(self, scope: Scope) -> np.ndarray | None:
        """Rows in scope (None: all live rows); predicates run once per distinct metadata value. The
        last few scopes' masks are kept: a question asks for the same scope's dense and BM25 candidates
        (two passes over a million rows each otherwise)."""
        if scope.everything:
            return None
        found = self._masks.get(scope)
        if found is None:
            found = self._mask(scope)
            with self._masks_lock:  # a server answers from several threads
                while len(self._masks) >= MASKS_KEPT:
                    self._masks.pop(next(iter(self._masks)))
                self._masks[scope] = found
        return found

    def _mask(self, scope: Scope) -> np.ndarray | None:
        idx = self.idx
        doc_ok = np.ones(idx.n_docs, dtype=bool)
        if scope.city:
            doc_ok &= idx.doc_mask(lambda m: Scope(city=scope.city).admits(m))
        if scope.year:
            doc_ok &= idx.doc_mask(lambda m: Scope(year=scope.year).admits(m), key="year")
        if scope.doc_type:
            doc_ok &= idx.doc_mask(lambda m: m.doc_type == scope.doc_type, key="type")
        if not scope.city and scope.cities:
            doc_ok &= idx.doc_mask(lambda m: Scope(cities=scope.cities, unplaced=scope.unplaced).admits(m))
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
        have = [(p, v) for p in pids if (v := self.idx.vector(int(p))) is not None]  # not embedded yet: no score
        if not have:
            return {}
        vecs = np.vstack([v for _, v in have])
        return dict(zip([p for p, _ in have], (vecs @ qvec[0]).tolist()))

    def prefetch(self, pids: list[int]) -> None:
        pass  # texts are read one by one from the segment stores, with a cache

    def passage(self, pid: int) -> Passage:
        return self.idx.passages[pid]

    def library(self):
        return self.idx.library()

    def doc(self, pid: int):
        return self.idx.doc(pid)

    def idf(self, tokens: list[str]) -> dict[str, float]:
        return self.idx.bm25.idf(tokens)

    def describe(self) -> list[str]:
        return ["backend:    faiss (embedded segments, exact inner product; BM25 over segment postings)"]


class EmbeddedHandle:
    """The live commit of the index in `settings.index_dir`, checked once when it is opened."""

    def __init__(self, settings: Settings, model: str | None = None, encoder: Encoder | None = None):
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self.target = Target(self.index_dir, settings.corpus_dir)
        self._model = model  # None: whichever model built the index
        self._encoder = encoder  # None: as the index's passages were encoded (usable.question_encoder)
        self._lock = threading.Lock()
        self._backend = EmbeddedBackend(self._load())

    def _load(self, reuse: LoadedIndex | None = None) -> LoadedIndex:
        idx = load(self.index_dir, reuse=reuse)  # segments already open are reused, not reopened
        usable.check(idx.manifest, self.target, chunker=self.settings.chunking.chunker_id, model=self._model)
        usable.check_questions(idx.manifest, self.target, self.settings, self.encoder(idx))
        return idx

    @property
    def index(self) -> LoadedIndex:
        """The live index; reloaded (once, under a lock) when a build has published a newer one."""
        idx = self._backend.idx
        if is_stale(idx, self.index_dir):
            with self._lock:
                if is_stale(self._backend.idx, self.index_dir):
                    self._backend = EmbeddedBackend(self._load(reuse=self._backend.idx))
        return self._backend.idx

    def current(self) -> EmbeddedBackend:
        self.index  # noqa: B018  (reload first when a build has published)
        return self._backend

    def encoder(self, backend) -> Encoder:
        return self._encoder or usable.question_encoder(backend.manifest, self.target, self.settings)
