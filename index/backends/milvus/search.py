"""The Milvus backend: dense and lexical candidates, filters, texts and documents from a Milvus collection.

Filters (the user's --city/--year/--doc-type and the places a question names) become Milvus
filter expressions and run inside Milvus. Dense search is an exact inner product (FLAT, IP);
lexical search is a sparse inner product of the question's IDF weights with each passage's BM25
weights (sync.py, with index/bm25.py's formula), so its scores equal the embedded index's BM25. The two candidate
lists are fused by policyqa (qa/fusion.py), as for the embedded index, so rankings agree.

Documents' metadata is read once per collection generation (a build bumps it); texts are read
when a hit or a refusal rule needs them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from policyqa.config import Settings
from policyqa.corpus.types import DocMeta, Passage
from policyqa.encode import embedder
from policyqa.encode.encoders import Encoder
from policyqa.errors import MilvusMissing
from policyqa.index import bm25, usable
from policyqa.index.backends.base import Lexical, Scope
from policyqa.index.backends.milvus import schema
from policyqa.index.backends.milvus.schema import CATALOG_FIELDS, PASSAGE_TEXT, pick, quote
from policyqa.index.usable import Target

CHECK_EVERY = 2.0  # seconds between checks for a newer generation of the collection
CACHE = 4096
MAX_LIMIT = 16_384  # Milvus's largest top-k
TEXT_BATCH = 256  # document texts read per query


def expression(scope: Scope) -> str:
    """The Milvus filter expression for a scope ("" when everything is in scope)."""
    parts = []
    if scope.city:
        names = json.dumps(sorted(scope.city_names()), ensure_ascii=False)
        prefix = json.dumps(scope.city.replace("%", "").replace("_", "") + "%", ensure_ascii=False)
        alts = [f"{f} in {names}" for f in ("city", "prefecture", "province")] + [
            f"{f} like {prefix}" for f in ("city", "prefecture", "province")]
        parts.append("(" + " or ".join(alts) + ")")
    if scope.year:
        parts.append(f'(years like "%,{int(scope.year)},%" or year == {int(scope.year)})')
    if scope.doc_type:
        parts.append(f"doc_type == {quote(scope.doc_type)}")
    if not scope.city and scope.cities:
        names = json.dumps(list(scope.cities), ensure_ascii=False)
        alts = [f"{f} in {names}" for f in ("city", "prefecture", "province")]
        parts.append("(" + " or ".join(alts + ['(city == "" and province == "")'] * scope.unplaced) + ")")
    return " and ".join(parts)


class MilvusDoc:
    """A document whose metadata is in memory and whose text is read from the catalogue when asked for."""

    __slots__ = ("_backend", "doc_id", "source", "meta", "n_passages", "parts", "_text")

    def __init__(self, backend: MilvusBackend, doc_id: str, source: str, meta: DocMeta, n_passages: int, parts: int):
        self._backend, self.doc_id, self.source, self.meta = backend, doc_id, source, meta
        self.n_passages, self.parts, self._text = n_passages, parts, None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._backend.doc_text(self.doc_id)
        return self._text


class Docs(Mapping):
    def __init__(self, by_id: dict[str, MilvusDoc]):
        self._by_id = by_id

    def __getitem__(self, key: str) -> MilvusDoc:
        return self._by_id[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


class MilvusBackend:
    """One generation of the collection, opened for querying (the Backend interface of index/backends/base.py)."""

    name = "milvus"

    def __init__(self, settings: Settings, client, state: dict):
        self.settings = settings
        self.client = client
        self.passages_name, self.catalog_name = schema.names(settings)
        self.state = state
        self.manifest = {"model": state["model"], "model_fingerprint": state["model_fingerprint"],
                         "encoder": state.get("encoder", "fp32"),
                         "chunker": state["chunker"], "dimension": state["dimension"], "passages": state["n"],
                         "built_at": state.get("built_at", ""), "index_type": "milvus FLAT"}
        self.model = state["model"]
        self.n = int(state["n"])
        by_id = {}
        for r in schema.iterate(client, self.catalog_name, 'kind == "doc"', pick(CATALOG_FIELDS, "doc_id", "count", "text")):
            info = json.loads(r["text"])
            by_id[r["doc_id"]] = MilvusDoc(self, r["doc_id"], info["source"], DocMeta(**info["meta"]), info["passages"],
                                           int(r["count"]))
        self.docs = Docs(by_id)
        metas = [d.meta for d in by_id.values()]
        self.cities = {m.city for m in metas if m.city}
        self.prefectures = {m.city: m.prefecture for m in metas if m.city and m.prefecture}
        self.pending = 0  # a collection is synced from a finished build: every passage has its vector
        self._rows: OrderedDict[int, dict] = OrderedDict()
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._doc_ids = list(by_id)
        self._order = {d: i for i, d in enumerate(self._doc_ids)}
        self._terms: dict[str, tuple[int, int] | None] = {}
        self._lock = threading.Lock()

    # -- candidates ---------------------------------------------------------------------------

    def _search(self, data, field: str, k: int, expr: str) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, MAX_LIMIT, self.n)
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        res = self.client.search(self.passages_name, [data], anns_field=field, limit=k, filter=expr,
                                 output_fields=[], search_params={"metric_type": "IP"})[0]
        hits = sorted(((float(h["distance"]), int(h["pid"])) for h in res), key=lambda x: (-x[0], x[1]))
        return np.asarray([s for s, _ in hits], np.float32), np.asarray([p for _, p in hits], np.int64)

    def dense(self, qvec: np.ndarray, k: int, scope: Scope) -> tuple[np.ndarray, np.ndarray]:
        return self._search(np.asarray(qvec, np.float32).reshape(-1).tolist(), "vector", k, expression(scope))

    def _term_info(self, tokens: list[str]) -> dict[str, tuple[int, int] | None]:
        todo = [t for t in dict.fromkeys(tokens) if t not in self._terms]
        if todo:
            found = schema.term_rows(self.client, self.catalog_name, todo)
            with self._lock:
                for t in todo:
                    info = found.get(t)
                    self._terms[t] = info if info and info[1] > 0 else None
        return {t: self._terms[t] for t in tokens}

    def _query_vector(self, tokens: list[str]) -> dict[int, float]:
        """IDF × count per known term: a repeated token counts again, as in the embedded BM25."""
        info = self._term_info(tokens)
        out: dict[int, float] = {}
        for t, c in Counter(tokens).items():
            if info[t] is not None:
                dim, df = info[t]
                out[dim] = float(np.float32(bm25.idf(self.n, df))) * c
        return out

    def lexical(self, tokens: list[str], k: int, scope: Scope) -> Lexical:
        q = self._query_vector(tokens)
        if not q:
            return Lexical(np.zeros(0, np.float32), np.zeros(0, np.int64))
        scores, ids = self._search(q, "lexical", k, expression(scope))
        keep = scores > 0
        scores, ids = scores[keep], ids[keep]
        known = dict(zip(ids.tolist(), scores.tolist()))

        def score_of(pids: list[int]) -> dict[int, float]:
            missing = [p for p in pids if p not in known]
            if missing:
                s, i = self._search(q, "lexical", len(missing), f"pid in [{','.join(map(str, missing))}]")
                known.update(zip(i.tolist(), s.tolist()))
            return {p: known.get(p, 0.0) for p in pids}

        return Lexical(scores, ids, score_of)

    def similarity(self, qvec: np.ndarray, pids: list[int]) -> dict[int, float]:
        if not pids:
            return {}
        s, i = self._search(np.asarray(qvec, np.float32).reshape(-1).tolist(), "vector", len(pids),
                            f"pid in [{','.join(map(str, pids))}]")
        return dict(zip(i.tolist(), s.tolist()))

    # -- texts --------------------------------------------------------------------------------

    def prefetch(self, pids: list[int]) -> None:
        todo = [int(p) for p in dict.fromkeys(pids) if int(p) not in self._rows]
        for i in range(0, len(todo), 1000):
            chunk = todo[i : i + 1000]
            rows = self.client.query(self.passages_name, filter=f"pid in [{','.join(map(str, chunk))}]",
                                     output_fields=PASSAGE_TEXT, limit=len(chunk))
            with self._lock:
                for r in rows:
                    self._rows[int(r["pid"])] = dict(r)
                while len(self._rows) > CACHE:
                    self._rows.popitem(last=False)

    def _row(self, pid: int) -> dict:
        pid = int(pid)
        if pid not in self._rows:
            self.prefetch([pid])
        return self._rows[pid]

    def library(self) -> list:
        return [(d.doc_id, d.meta) for d in self.docs.values()]

    def passage(self, pid: int) -> Passage:
        r = self._row(pid)
        return Passage(r["doc_id"], int(r["ordinal"]), int(r["start"]), int(r["stop"]), json.loads(r["section"]), r["body"],
                       int(r.get("page") or 0) or None, bool(r.get("ocr")))

    def doc(self, pid: int) -> MilvusDoc:
        return self.docs[self._row(pid)["doc_id"]]

    def doc_text(self, doc_id: str) -> str:
        """A document's text; the texts of the documents after it (in catalogue order) come in the same
        query, since a refusal rule that reads one usually reads them all."""
        with self._lock:
            if doc_id in self._texts:
                return self._texts[doc_id]
        i = self._order.get(doc_id, 0)
        ids = [d for d in self._doc_ids[i : i + TEXT_BATCH] if d not in self._texts] or [doc_id]
        parts: dict[str, list] = {d: [] for d in ids}
        expr = 'kind == "text" and doc_id in [' + ",".join(quote(d) for d in ids) + "]"
        for r in schema.iterate(self.client, self.catalog_name, expr, pick(CATALOG_FIELDS, "doc_id", "num", "text")):
            parts[r["doc_id"]].append((r["num"], r["text"]))
        with self._lock:
            for d, ps in parts.items():
                self._texts[d] = "".join(t for _, t in sorted(ps))
            while len(self._texts) > CACHE:
                self._texts.popitem(last=False)
            return self._texts[doc_id]

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """BM25 IDF of each token over the whole collection (unknown tokens get a small default)."""
        info = self._term_info(tokens)
        return {t: bm25.idf(self.n, info[t][1]) if info[t] is not None else bm25.UNKNOWN_IDF for t in tokens}

    def describe(self) -> list[str]:
        s = self.settings
        stats = {n: self.client.get_collection_stats(n).get("row_count", "?") for n in (self.passages_name, self.catalog_name)}
        kinds = []
        for f in ("vector", "lexical"):
            try:
                d = self.client.describe_index(self.passages_name, f)
                kinds.append(f"{f} {d.get('index_type')} {d.get('metric_type')}")
            except Exception as e:  # describe_index differs between server versions; status still prints
                kinds.append(f"{f} ({type(e).__name__})")
        engine = "milvus-lite file" if schema.is_local(str(s.milvus_uri)) else "Milvus server"
        return [
            f"backend:    milvus ({engine}) at {schema.display_uri(str(s.milvus_uri))}",
            f"collection: {self.passages_name}: {stats[self.passages_name]} rows; {self.catalog_name}: "
            f"{stats[self.catalog_name]} rows (documents, texts, vocabulary)",
            f"indexes:    {', '.join(kinds)}",
            f"documents:  {len(self.docs)}",
            f"passages:   {self.n}",
            f"model:      {self.model} (weights {self.manifest['model_fingerprint']}, {self.manifest['dimension']}-d)",
            f"chunker:    {self.manifest['chunker']}",
            f"BM25:       client-side jieba weights, average length {self.state['avgdl']:.2f}, "
            f"vocabulary {self.state['next_dim'] - 1} terms",
            f"built:      {self.manifest['built_at']} (generation {self.state['generation']})",
        ]


class MilvusHandle:
    """Keeps the Searcher's view current: a newer generation (a build) is opened, checked every few seconds."""

    def __init__(self, settings: Settings, model: str | None, encoder: Encoder | None = None):
        self.settings = settings
        self.client = schema.connect(settings)
        self._model = model
        self._encoder = encoder
        self._checked = time.monotonic()
        self._backend = self._open(schema.read_manifest(self.client, settings))
        self._lock = threading.Lock()

    def _open(self, state: dict | None) -> MilvusBackend:
        s = self.settings
        uri = schema.display_uri(str(s.milvus_uri))
        if state is None:
            raise MilvusMissing(f"no policyqa collection {s.milvus_collection!r} at {uri}; build it with: "
                                f"policyqa build --backend milvus --milvus-uri {uri}")
        target = Target(milvus_uri=uri)
        usable.check(state, target, chunker=s.chunking.chunker_id, model=self._model,
                     fingerprint=getattr(self._encoder, "fingerprint", None) or embedder.fingerprint(state["model"], s.device))
        return MilvusBackend(s, self.client, state)

    def current(self) -> MilvusBackend:
        if time.monotonic() - self._checked < CHECK_EVERY:
            return self._backend
        with self._lock:
            self._checked = time.monotonic()
            state = schema.read_manifest(self.client, self.settings)
            if state and state["generation"] != self._backend.state["generation"]:
                self._backend = self._open(state)
        return self._backend

    @property
    def index(self) -> MilvusBackend:
        return self.current()

    def encoder(self, backend: MilvusBackend) -> Encoder:
        return self._encoder or usable.question_encoder(backend.manifest, Target(Path(self.settings.index_dir)), self.settings)
