"""Question in, ranked and cited passages out.

Dense and lexical (BM25) candidates, filtered by metadata, come from the storage backend
(index/backends/base.py: the embedded index or Milvus) and are fused (qa/fusion.py),
capped per document so one long report cannot fill the page, and each hit gets its answering
sentence (qa/answer.py). Aggregate questions (哪些城市) search deeper and group by place
(qa/grouping.py). Whether the hits answer at all is qa/refusal.py's call.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace

import numpy as np

from policyqa.config import MAX_QUESTION_CHARS, Settings
from policyqa.errors import QuestionError
from policyqa.index.backends import Backend, Handle, Lexical, Scope, open_backend
from policyqa.qa.answer import answer_span, asked_pattern, best_sentence
from policyqa.qa.fusion import fuse
from policyqa.qa.grouping import group_by_city
from policyqa.qa.lifecycle import Catalog, as_of_date, keep_in_force, numbered_first
from policyqa.qa.query import Query, analyze
from policyqa.qa.refusal import Case, judge
from policyqa.qa.timeline import group_by_year, wants_timeline
from policyqa.qa.types import Answer, Hit

MODES = ("hybrid", "dense", "bm25")
_NONE = (np.zeros(0), np.zeros(0, np.int64))  # no candidates (scores, ids)
QUESTION_CACHE = 1024  # question vectors kept; prime() may hold more



# A code point in U+D800–U+DFFF alone: a JSON "\ud800", or a byte that is not UTF-8 on the command line
# (Python keeps it as U+DC80–U+DCFF). No tokenizer or encoder takes one, and nothing can print it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
DROPPED_NOTE = "问题中有无法识别的字符（不是有效的 UTF-8），已删除"


def embedding_note(pending: int, total: int, mode: str) -> str:
    """What an answer says while a build is still embedding the index it was read from."""
    how = "暂不参与语义检索" if mode == "dense" else "暂时只按关键词（BM25）排序"
    return f"索引仍在嵌入向量：{total:,} 个段落中有 {pending:,} 个尚未嵌入，{how}"


def clean_text(text: str | None) -> tuple[str, bool]:
    """`text` without the characters no encoder can take (lone surrogates); True when some were dropped.

    The one place a question is cleaned: the CLI, the UI and the API all ask through `Searcher.ask`."""
    text = text or ""
    cleaned = _LONE_SURROGATE.sub("", text)
    return cleaned, len(cleaned) != len(text)


@dataclass
class Filters:
    city: str | None = None
    year: int | None = None
    doc_type: str | None = None
    in_force: bool = False  # only documents 现行有效 (or saying nothing about it) on `as_of`
    as_of: str | None = None  # YYYY-MM-DD the status is computed for; today when None
    timeline: bool = False  # lay the results out by year (also for 历年/演变 questions)


def union(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two candidate lists (scores, ids) of one question as one, best first, each passage once."""
    scores, ids = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]).astype(np.int64)
    order = np.argsort(-scores, kind="stable")
    _, first = np.unique(ids[order], return_index=True)
    keep = order[np.sort(first)]
    return scores[keep], ids[keep]


def rule_documents(idx: Backend, ranked: list[int], limit: int) -> list:
    """The documents the refusal rules read for a year or a name the question asks about: all of
    them in a library of up to `limit` (Retrieval.rule_scan_docs), else those of the question's candidate passages.
    Reading every document's text for every question does not scale (670,000 documents)."""
    if len(idx.docs) <= limit:
        return list(idx.docs.values())
    seen: dict[str, object] = {}
    for pid in ranked:
        d = idx.doc(pid)
        seen.setdefault(d.doc_id, d)
    return list(seen.values())


def filter_notes(idx: Backend, f: Filters) -> list[str]:
    """Why a search with filters found nothing: no document has that year, place or type (each named),
    or none has them all together. Only called when nothing was found, so reading every document's
    metadata costs nothing on the common path."""
    given = [(label, value, Scope(**{key: value})) for key, label, value in
             (("city", "城市", f.city), ("year", "年份", f.year), ("doc_type", "文档类型", f.doc_type)) if value]
    if not given:
        return []
    metas = [d.meta for d in idx.docs.values()]
    alone = [f"{label} {value}" for label, value, scope in given if not any(scope.admits(m) for m in metas)]
    if alone:
        return ["没有符合筛选条件的文档：" + "、".join(alone) + "。请放宽或更换筛选条件"]
    if len(given) > 1 and not any(Scope(f.city, f.year, f.doc_type).admits(m) for m in metas):
        return ["没有同时符合这些筛选条件的文档：" + "、".join(f"{label} {value}" for label, value, _ in given) + "。请放宽筛选条件"]
    return []


class Searcher:
    """Answers questions from one backend, kept current by its handle (a build may publish meanwhile).

    The backend handle (index/backends) opens and checks the index, reloads it and encodes
    questions as its passages were; the Searcher only ranks what it is given."""

    def __init__(self, settings: Settings, model: str | None = None, handle: Handle | None = None):
        self.settings = settings
        self.handle = handle or open_backend(settings, model)
        # a repeated question (the UI's re-ask, an evaluation's second mode) is not re-encoded
        self._qvecs: dict[tuple[str, str, str], np.ndarray] = {}  # (model, encoder, question)
        self._qlock = threading.Lock()
        self._catalog: tuple[object, Catalog] | None = None  # (the backend generation, its lifecycles)

    def catalog(self, idx: Backend | None = None) -> Catalog:
        """The lifecycles of `idx`'s documents (default: the current generation), built once per generation."""
        idx = idx if idx is not None else self.backend
        cached = self._catalog
        if cached is None or cached[0] is not idx:
            cached = self._catalog = (idx, Catalog(idx.library()))
        return cached[1]

    def _encode(self, idx: Backend, question: str) -> np.ndarray:
        enc = self.handle.encoder(idx)
        key = (idx.model, enc.variant, question)
        vec = self._qvecs.get(key)
        if vec is None:
            vec = enc.questions([question])
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
        idx = self.backend
        enc = self.handle.encoder(idx)
        todo = list(dict.fromkeys(q.strip()[:MAX_QUESTION_CHARS] for q in questions if q.strip()))
        todo = [q for q in todo if (idx.model, enc.variant, q) not in self._qvecs]
        from tqdm import tqdm

        with tqdm(total=len(todo), desc=f"questions ({enc.variant})", unit="q", disable=not progress or not todo) as bar:
            vecs = enc.questions(todo, bar=bar)
        with self._qlock:
            self._qvecs.update({(idx.model, enc.variant, q): v.reshape(1, -1) for q, v in zip(todo, vecs)})

    @property
    def backend(self) -> Backend:
        """What `ask` reads candidates from, as of now."""
        return self.handle.current()

    @property
    def index(self):
        """What the UI lists and evaluations read: the live LoadedIndex (embedded), or the Milvus backend."""
        return self.handle.index

    # -- the pieces -------------------------------------------------------------------------

    def _scope(self, f: Filters, q: Query) -> tuple[Scope, Scope | None]:
        """The filters as the backend applies them (a `--city` filter is strict), and the scope of the
        places the question names (None when it names none or a city filter is set): a preference."""
        preferred = Scope(None, f.year, f.doc_type, tuple(q.places)) if q.places and not f.city else None
        return Scope(f.city, f.year, f.doc_type), preferred

    @staticmethod
    def place_note(q: Query, found: bool) -> str:
        """What the question's places were understood as, and what was done with them."""
        named = "、".join(q.places)
        if not found:
            return f"问题提到{named}，但没有{named}的文档，已在全部文档中检索"
        under = [c for c in q.cities if c not in q.places]
        covered = f"（含其下辖{'、'.join(under)}）" if under else ""
        return f"问题提到{named}：优先列出{named}{covered}的文档，未标注地区的文档排在其后"

    @classmethod
    def _candidates(cls, idx: Backend, q: Query, qvec: np.ndarray | None, depth: int, mode: str, scope: Scope,
                    preferred: Scope | None, notes: list[str]) -> tuple[tuple[np.ndarray, np.ndarray], Lexical | None, Scope | None]:
        """Dense and lexical candidates, and the places' scope still preferred (None: no place, or one
        with no documents). The places' documents are searched first, so no other document crowds
        them out of the depth; then, unless a 哪些城市 question keeps to them, documents with no place."""
        def search(s: Scope) -> tuple[tuple[np.ndarray, np.ndarray], Lexical | None]:
            return (idx.dense(qvec, depth, s) if qvec is not None else _NONE,
                    idx.lexical(q.tokens, depth, s) if mode != "dense" else None)

        dense, bm = search(preferred or scope)
        if preferred is None:
            return dense, bm, None
        found = len(dense[1]) > 0 or (bm is not None and len(bm.ids) > 0)
        notes.append(cls.place_note(q, found))
        if not found:  # a place with no documents: all of them, and the note says so
            return *search(scope), None
        if q.aggregate:
            return dense, bm, preferred
        more_dense, more_bm = search(replace(preferred, unplaced=True))
        dense = union(dense, more_dense)
        if bm is not None and more_bm is not None:
            scores, ids = union((bm.scores, bm.ids), (more_bm.scores, more_bm.ids))
            bm = replace(more_bm, scores=scores, ids=ids)
        return dense, bm, preferred

    # -- the whole question -----------------------------------------------------------------

    def ask(self, question: str, top_k: int = 5, mode: str = "hybrid", filters: Filters | None = None) -> Answer:
        question, dropped = clean_text(question)
        question = question.strip()
        notes: list[str] = [DROPPED_NOTE] if dropped and question else []
        if not question:
            raise QuestionError("问题为空：请输入一个问题，例如“哪些城市设立了科技特派员工作站”")
        if len(question) > MAX_QUESTION_CHARS:
            question = question[:MAX_QUESTION_CHARS]
            notes.append(f"问题超过{MAX_QUESTION_CHARS}字，已截断")
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        if top_k < 1:
            raise QuestionError("top-k must be at least 1")
        idx = self.backend  # one generation for the whole question, even if a build swaps meanwhile
        f = filters or Filters()
        f = Filters(city=clean_text(f.city)[0].strip() or None, year=f.year, doc_type=clean_text(f.doc_type)[0].strip() or None,
                    in_force=f.in_force, as_of=f.as_of, timeline=f.timeline)
        on = as_of_date(f.as_of)  # a date that does not exist is refused before any work
        q = analyze(question, idx.cities, idx.prefectures)
        if not self.settings.retrieval.understand_query:
            q.cities, q.places, q.other_places, q.years, q.doc_types, q.names = [], [], [], [], [], []
        scope, preferred = self._scope(f, q)
        r = self.settings.retrieval.for_model(idx.model)  # the fusion weights chosen for the index's model
        depth = max(r.candidates, r.aggregate_depth if q.aggregate else 0, top_k * 4)
        qvec = self._encode(idx, question) if mode != "bm25" else None
        dense, bm, preferred = self._candidates(idx, q, qvec, depth, mode, scope, preferred, notes)
        fused = fuse(dense, (bm.scores, bm.ids) if bm else _NONE, mode, r)
        if preferred is not None and not q.aggregate:
            idx.prefetch(list(fused))
            for pid in fused:
                if preferred.admits(idx.doc(pid).meta):
                    fused[pid] *= r.place_boost
        if q.years or q.doc_types:
            idx.prefetch(list(fused))
            for pid in fused:
                m = idx.doc(pid).meta
                if (q.years and set(q.years) & set(m.years or [m.year])) or (q.doc_types and m.doc_type in q.doc_types):
                    fused[pid] *= r.metadata_boost
                if q.years and any(str(y) in idx.passage(pid).body for y in q.years):  # the year in the passage itself
                    fused[pid] *= r.year_in_passage_boost
            notes.append("按问题中的" + "、".join([*map(str, q.years), *q.doc_types]) + "提升了匹配文档的排名")
        dense_of = {int(i): float(s) for s, i in zip(*dense)}
        if qvec is not None and len(fused):
            missing = [pid for pid in fused if pid not in dense_of]
            if missing:
                dense_of.update(idx.similarity(qvec, missing))
        if idx.pending and mode != "bm25":
            notes.append(embedding_note(idx.pending, int(idx.manifest.get("passages", 0)), mode))
        ranked = sorted(fused, key=lambda p: -fused[p])
        if self.settings.reranker:  # optional cross-encoder over the head; Hit.score stays the fused score
            from policyqa.qa.rerank import rerank_for_search

            ranked, more = rerank_for_search(self.settings, question, ranked, lambda pid: idx.passage(pid).body)
            notes += more
        idx.prefetch(ranked)
        catalog = self.catalog(idx)
        if self.settings.retrieval.understand_query:
            ranked, more = numbered_first(idx, catalog, question, ranked, depth)
            notes += more
        if f.in_force:
            ranked, more = keep_in_force(idx, catalog, ranked, on)
            notes += more
        hits = self._select(idx, ranked, q, top_k if not q.aggregate else max(top_k, r.aggregate_depth))
        idf = idx.idf(q.tokens)
        asked = asked_pattern(question) if q.wants_span else None
        idx.prefetch(hits)
        bm_of = bm.score_of(hits) if bm is not None else {}
        out: list[Hit] = []
        for rank, pid in enumerate(hits, 1):
            p, d = idx.passage(pid), idx.doc(pid)
            a, b = best_sentence(p.body, p.start, q.tokens, idf, asked, question)
            sentence = p.body[a - p.start : b - p.start]  # the document's text there, without reading all of it
            out.append(Hit(
                rank=rank, score=fused[pid], pid=pid, doc_id=d.doc_id, source=d.source, title=d.meta.title,
                city=d.meta.city, year=d.meta.year, doc_type=d.meta.doc_type, section=p.section_path,
                start=p.start, end=p.end, text=p.body, dense=dense_of.get(pid, 0.0),
                bm25=bm_of.get(pid, 0.0),
                answer=sentence, answer_start=a, answer_end=b,
                answer_span=answer_span(sentence, question, q.tokens, asked) if asked else None,
                page=p.page, ocr=p.ocr, standing=catalog.standing(d.doc_id, on),
                province=d.meta.province,
            ))
        answer = Answer(question=question, hits=out, mode=mode, notes=notes)
        if q.aggregate:
            answer.groups, answer.hits = group_by_city(out, q, idx.idf, top_k, r.support)
        elif wants_timeline(question, f.timeline):
            answer.timeline, answer.hits = group_by_year(out)
        # a hit whose passage has no vector yet cannot be judged by its cosine, as in BM25 mode
        unscored = qvec is not None and any(pid not in dense_of for pid in hits)
        case = Case(q, out, mode, lambda: rule_documents(idx, ranked, r.rule_scan_docs), r.answer_depth,
                    r.threshold_for(idx.model), unscored)
        answer.found, why = judge(case)
        if why:
            notes.append(why)
        if not out:
            notes += filter_notes(idx, f)
        return answer

    def _select(self, idx: Backend, ranked: list[int], q: Query, k: int) -> list[int]:
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
