"""Question in, ranked and cited passages out.

Dense (FAISS) and lexical (BM25) candidates are filtered by metadata, fused (qa/fusion.py),
capped per document so one long report cannot fill the page, and each hit gets its answering
sentence (qa/answer.py). Aggregate questions (哪些城市) search deeper and group by place
(qa/grouping.py). Whether the hits answer at all is qa/refusal.py's call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policyqa.config import MAX_QUESTION_CHARS, Settings
from policyqa.corpus.places import lookup
from policyqa.index import embedder
from policyqa.index.loaded import LoadedIndex, check_compatible, is_stale, load
from policyqa.qa.answer import answer_span, asked_pattern, best_sentence
from policyqa.qa.fusion import fuse
from policyqa.qa.grouping import group_by_city
from policyqa.qa.query import Query, analyze
from policyqa.qa.refusal import Case, judge
from policyqa.qa.types import Answer, Hit

MODES = ("hybrid", "dense", "bm25")
AGGREGATE_DEPTH = 60  # passages considered when listing places, so none is crowded out
QUESTION_CACHE = 1024  # question vectors kept; prime() may hold more


class QuestionError(ValueError):
    """A question that cannot be asked as given; the message says how to ask instead."""


@dataclass
class Filters:
    city: str | None = None
    year: int | None = None
    doc_type: str | None = None


def _matches_city(doc_meta, wanted: str) -> bool:
    keys = {doc_meta.city, doc_meta.prefecture, doc_meta.province}
    p = lookup(wanted)
    names = {wanted, wanted + "市", wanted + "县"} | ({p.name, p.short} if p else set())
    return any(k and (k in names or k.startswith(wanted)) for k in keys)


class Searcher:
    """Holds one loaded index and the model; swaps in a newer index when a build publishes one."""

    def __init__(self, settings: Settings, model: str | None = None):
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self._requested_model = model
        self._lock = threading.Lock()
        self._index = self._load()
        # a repeated question (the UI's re-ask, an evaluation's second mode) is not re-encoded
        self._qvecs: dict[tuple[str, str], np.ndarray] = {}
        self._qlock = threading.Lock()

    def _encode(self, model: str, question: str) -> np.ndarray:
        key = (model, question)
        vec = self._qvecs.get(key)
        if vec is None:
            vec = embedder.encode(model, [question], device=self.settings.device, query=True)
            with self._qlock:
                while len(self._qvecs) >= QUESTION_CACHE:
                    self._qvecs.pop(next(iter(self._qvecs)))
                self._qvecs[key] = vec
        return vec

    def prime(self, questions: list[str], progress: bool = False) -> None:
        """Encode many questions up front (an evaluation), each alone as `ask` would.

        Batching would be faster, but a batched vector differs from a single one in the last
        bits (padding, GEMM blocking), and near-tied passages then swap: a question's results
        must not depend on whether it arrived in a batch.
        """
        model = self.index.model
        todo = list(dict.fromkeys(q.strip()[:MAX_QUESTION_CHARS] for q in questions if q.strip()))
        todo = [q for q in todo if (model, q) not in self._qvecs]
        vecs = embedder.encode(model, todo, batch_size=1, device=self.settings.device, progress=progress, query=True)
        with self._qlock:
            self._qvecs.update({(model, q): v.reshape(1, -1) for q, v in zip(todo, vecs)})

    def _load(self) -> LoadedIndex:
        idx = load(self.index_dir)
        check_compatible(idx.manifest, self._requested_model, self.settings.chunking, self.index_dir)
        if embedder.fingerprint(idx.model, self.settings.device) != idx.manifest["model_fingerprint"]:
            from policyqa.index.layout import IndexMismatch

            raise IndexMismatch(
                f"the weights of model {idx.model!r} differ from those the index in {self.index_dir} was built with; "
                f"re-embed with: policyqa build --index {self.index_dir}"
            )
        return idx

    @property
    def index(self) -> LoadedIndex:
        """The live index; reloaded (once, under a lock) when a build has published a newer one."""
        idx = self._index
        if is_stale(idx, self.index_dir):
            with self._lock:
                if is_stale(self._index, self.index_dir):
                    self._index = self._load()
            idx = self._index
        return idx

    # -- the pieces -------------------------------------------------------------------------

    def _allowed(self, idx: LoadedIndex, f: Filters, q: Query) -> tuple[np.ndarray | None, list[str]]:
        notes = []
        doc_ok = np.ones(len(idx.doc_list), dtype=bool)
        for i, doc_id in enumerate(idx.doc_list):
            m = idx.docs[doc_id].meta
            if f.city and not _matches_city(m, f.city):
                doc_ok[i] = False
            if f.year and f.year not in (m.years or []) and f.year != m.year:
                doc_ok[i] = False
            if f.doc_type and m.doc_type != f.doc_type:
                doc_ok[i] = False
            if not f.city and q.cities and m.city not in q.cities:
                doc_ok[i] = False
        if not f.city and q.cities:
            named = f"{'、'.join(q.broader)}：只检索其下辖" if q.broader else f"{'、'.join(q.cities)}：只检索"
            notes.append(f"问题提到{named}{'、'.join(q.cities)}的文档")
        keep = doc_ok[idx.doc_of]
        return (None if keep.all() else keep), notes

    def _dense(self, idx: LoadedIndex, qvec: np.ndarray, allowed: np.ndarray | None, k: int):
        import faiss

        if allowed is None:
            return idx.dense(qvec, k)
        ids = np.flatnonzero(allowed).astype(np.int64)
        if len(ids) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
        scores, found = idx.faiss_index.search(qvec.reshape(1, -1), min(k, len(ids)), params=params)
        keep = found[0] >= 0
        return scores[0][keep], found[0][keep]

    def _bm25(self, idx: LoadedIndex, tokens: list[str], allowed: np.ndarray | None, k: int):
        scores = idx.bm25_scores(tokens)
        if allowed is not None:
            scores = np.where(allowed, scores, -1.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        top = top[np.argsort(-scores[top])]
        top = top[scores[top] > 0]
        return scores[top], top, scores

    # -- the whole question -----------------------------------------------------------------

    def ask(self, question: str, top_k: int = 5, mode: str = "hybrid", filters: Filters | None = None) -> Answer:
        question = (question or "").strip()
        notes: list[str] = []
        if not question:
            raise QuestionError("问题为空：请输入一个问题，例如“哪些城市设立了科技特派员工作站”")
        if len(question) > MAX_QUESTION_CHARS:
            question = question[:MAX_QUESTION_CHARS]
            notes.append(f"问题超过{MAX_QUESTION_CHARS}字，已截断")
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        if top_k < 1:
            raise QuestionError("top-k must be at least 1")
        idx = self.index  # one generation for the whole question, even if a build swaps meanwhile
        f = filters or Filters()
        cities = {d.meta.city for d in idx.docs.values() if d.meta.city}
        prefectures = {d.meta.city: d.meta.prefecture for d in idx.docs.values() if d.meta.city and d.meta.prefecture}
        q = analyze(question, cities, prefectures)
        if not self.settings.retrieval.understand_query:
            q.cities, q.other_places, q.years, q.doc_types, q.names = [], [], [], [], []
        allowed, more = self._allowed(idx, f, q)
        notes += more
        r = self.settings.retrieval
        depth = max(r.candidates, AGGREGATE_DEPTH if q.aggregate else 0, top_k * 4)
        qvec = self._encode(idx.model, question) if mode != "bm25" else None
        dense = self._dense(idx, qvec, allowed, depth) if qvec is not None else (np.zeros(0), np.zeros(0, np.int64))
        bm = self._bm25(idx, q.tokens, allowed, depth) if mode != "dense" else (np.zeros(0), np.zeros(0, np.int64), None)
        fused = fuse(dense, bm[:2], mode, r)
        if q.years or q.doc_types:
            for pid in fused:
                m = idx.doc(pid).meta
                if (q.years and set(q.years) & set(m.years or [m.year])) or (q.doc_types and m.doc_type in q.doc_types):
                    fused[pid] *= 1.15
                if q.years and any(str(y) in idx.passages[pid].body for y in q.years):  # the year in the passage itself
                    fused[pid] *= 1.1
            notes.append("按问题中的" + "、".join([*map(str, q.years), *q.doc_types]) + "提升了匹配文档的排名")
        dense_of = {int(i): float(s) for s, i in zip(*dense)}
        if qvec is not None and len(fused):
            missing = [pid for pid in fused if pid not in dense_of]
            if missing:
                vecs = np.vstack([idx.faiss_index.reconstruct(int(p)) for p in missing])
                dense_of.update(zip(missing, (vecs @ qvec[0]).tolist()))
        bm_all = bm[2]
        ranked = sorted(fused, key=lambda p: -fused[p])
        if self.settings.reranker:  # optional cross-encoder over the head; Hit.score stays the fused score
            from policyqa.qa.rerank import rerank_for_search

            ranked, more = rerank_for_search(self.settings, question, ranked, lambda pid: idx.passages[pid].body)
            notes += more
        hits = self._select(idx, ranked, q, top_k if not q.aggregate else max(top_k, AGGREGATE_DEPTH))
        idf = idx.bm25.idf(q.tokens)
        asked = asked_pattern(question) if q.wants_span else None
        out: list[Hit] = []
        for rank, pid in enumerate(hits, 1):
            p, d = idx.passages[pid], idx.doc(pid)
            a, b = best_sentence(p.body, p.start, q.tokens, idf, asked, question)
            sentence = d.text[a:b]
            out.append(Hit(
                rank=rank, score=fused[pid], pid=pid, doc_id=d.doc_id, source=d.source, title=d.meta.title,
                city=d.meta.city, year=d.meta.year, doc_type=d.meta.doc_type, section=p.section_path,
                start=p.start, end=p.end, text=p.body, dense=dense_of.get(pid, 0.0),
                bm25=float(bm_all[pid]) if bm_all is not None else 0.0,
                answer=sentence, answer_start=a, answer_end=b,
                answer_span=answer_span(sentence, question, q.tokens, asked) if asked else None,
            ))
        answer = Answer(question=question, hits=out, mode=mode, notes=notes)
        if q.aggregate:
            answer.groups, answer.hits = group_by_city(out, q, idx.bm25.idf, top_k)
        case = Case(q, out, mode, lambda: list(idx.docs.values()), r.answer_depth, r.threshold_for(idx.model))
        answer.found, why = judge(case)
        if why:
            notes.append(why)
        return answer

    def _select(self, idx: LoadedIndex, ranked: list[int], q: Query, k: int) -> list[int]:
        """Top k, at most `per_doc` from one document unless the question names its city."""
        cap = self.settings.retrieval.per_doc
        taken: dict[str, int] = {}
        out = []
        for pid in ranked:
            d = idx.doc(pid)
            if d.meta.city not in q.cities and taken.get(d.doc_id, 0) >= cap:
                continue
            taken[d.doc_id] = taken.get(d.doc_id, 0) + 1
            out.append(pid)
            if len(out) == k:
                break
        return out
