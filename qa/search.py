"""Question in, ranked and cited passages out.

Dense (FAISS) and lexical (BM25) candidates are fused by reciprocal rank (or weighted
scores), filtered by metadata, capped per document so one long report cannot fill the
page, and each hit gets its answering sentence. Aggregate questions (哪些城市) search deeper
and group by place. When the best evidence is weak, the answer says so (未找到相关内容).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policyqa.config import MAX_QUESTION_CHARS, Settings
from policyqa.corpus.places import lookup
from policyqa.index import embedder
from policyqa.index.loaded import LoadedIndex, check_compatible, is_stale, load
from policyqa.qa.answer import REFUSE_WITHOUT, answer_span, asked_pattern, best_sentence, phrase_kind
from policyqa.qa.grouping import group_by_city
from policyqa.qa.query import Query, analyze
from policyqa.qa.types import Answer, Hit

MODES = ("hybrid", "dense", "bm25")
AGGREGATE_DEPTH = 60  # passages considered when listing places, so none is crowded out
PLAN_TYPES = ("工作要点", "工作方案", "规划")  # documents that set targets and report no outcomes
ACTUAL = re.compile(r"实际|完成了|实现了")
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


def _mentions(text: str, name: str) -> bool:
    """Whether text names it, line breaks and stray spaces aside (网页转来的文本常把一个名称断开)."""
    return name in text or re.sub(r"\s+", "", name) in re.sub(r"\s+", "", text)


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
        keep = np.ones(len(idx.passages), dtype=bool)
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

    def _fuse(self, dense, bm25, mode: str) -> dict[int, float]:
        r = self.settings.retrieval
        d_scores, d_ids = dense
        b_scores, b_ids = bm25[0], bm25[1]
        fused: dict[int, float] = {}
        if mode == "dense":
            return {int(i): float(s) for s, i in zip(d_scores, d_ids)}
        if mode == "bm25":
            return {int(i): float(s) for s, i in zip(b_scores, b_ids)}
        if r.fusion == "weighted":
            def norm(s):
                return (s - s.min()) / (s.max() - s.min() + 1e-9) if len(s) else s
            for s, i in zip(norm(d_scores), d_ids):
                fused[int(i)] = fused.get(int(i), 0.0) + r.dense_weight * float(s)
            for s, i in zip(norm(b_scores), b_ids):
                fused[int(i)] = fused.get(int(i), 0.0) + r.bm25_weight * float(s)
            return fused
        for rank, i in enumerate(d_ids):
            fused[int(i)] = fused.get(int(i), 0.0) + r.dense_weight / (r.rrf_k + rank + 1)
        for rank, i in enumerate(b_ids):
            fused[int(i)] = fused.get(int(i), 0.0) + r.bm25_weight / (r.rrf_k + rank + 1)
        return fused

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
        fused = self._fuse(dense, bm, mode)
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
        hits = self._select(idx, ranked, fused, q, top_k if not q.aggregate else max(top_k, AGGREGATE_DEPTH))
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
        answer.found, why = self._found(idx, out, q, mode)
        if why:
            notes.append(why)
        return answer

    def _select(self, idx: LoadedIndex, ranked: list[int], fused, q: Query, k: int) -> list[int]:
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

    def _found(self, idx: LoadedIndex, hits: list[Hit], q: Query, mode: str) -> tuple[bool, str | None]:
        """Whether the hits answer the question, and if not, why (shown to the user).

        Beyond weak evidence (no hit, or a best cosine under the threshold; BM25 alone has no
        comparable score, so bm25 mode refuses only when no question word matches), four
        questions are refused because no indexed document can answer them whatever the passages
        say: one about a place no document covers; one asking a figure for a prefecture or
        province when only places inside it are indexed (大冶's figure is not 黄石's); one naming a
        year the named place's documents never mention, or an ordinal, quoted name or title no
        document in scope mentions (岳阳's 第二次全体会议 when only the first is reported); and one
        asking what was actually achieved of a place whose documents are all plans. A fifth is refused on what the passages
        say: a question for a sum, a day or a count in a named unit whose best passages' answer
        sentences hold none; near misses (the policy named, its amount not) score like answers,
        and this is the one thing that tells them apart without reading comprehension.
        """
        if not hits:
            return False, None
        if q.other_places and not q.cities and not q.aggregate:  # 哪些城市在武汉设有…: 武汉 is the topic
            return False, f"问题提到的{'、'.join(q.other_places)}不在已索引文档的城市中"
        if q.broader and q.wants_span and not q.aggregate:
            inside = "、".join(q.cities) or "其下辖城市"
            return False, f"没有{'、'.join(q.broader)}本级的文档（只有{inside}的），无法给出{'、'.join(q.broader)}的数字"
        named_docs = [d for d in idx.docs.values() if d.meta.city in q.cities]
        missing = [y for y in q.years if named_docs and not any(str(y) in d.text for d in named_docs)]
        if missing:
            return False, f"{'、'.join(q.cities)}的文档中没有提到{'、'.join(map(str, missing))}年"
        absent = [n for n in q.names if not any(_mentions(d.text, n) for d in named_docs or idx.docs.values())]
        if absent:
            return False, f"{'、'.join(q.cities) or '已索引'}的文档中没有提到{'、'.join(absent)}"
        if named_docs and not q.aggregate and ACTUAL.search(q.text) and all(d.meta.doc_type in PLAN_TYPES for d in named_docs):
            return False, f"{'、'.join(q.cities)}的文档都是工作计划，只有目标，没有实际完成的数字"
        kind = phrase_kind(q.text) if q.wants_span and not q.aggregate else None
        if kind in REFUSE_WITHOUT and not any(h.answer_span for h in hits[: self.settings.retrieval.answer_depth]):
            return False, f"最相关的段落中没有问题所问的{REFUSE_WITHOUT[kind]}"
        if mode == "bm25":
            return True, None
        return max(h.dense for h in hits) >= self.settings.retrieval.threshold_for(idx.model), None
