"""An index opened for querying: what a query needs in memory, everything else read on demand.

In memory: the BM25 vocabularies and row lengths of each segment, a few compact arrays per
passage (its document number, whether it is live) and per document (its id, and its metadata's
filter and lifecycle keys as columns: index/store/doctable.py). A document's metadata is parsed
when a hit, a filter's distinct value or a lifecycle needs it. Vectors are memory-mapped.
Passage and document texts stay in each segment's SQLite store and are read
for the hits only (`passages[pid]`, `docs[doc_id].text`), with a small cache.

Rows are numbered across segments in commit order (a segment's rows start at its offset), so
a passage id is one integer for vectors, BM25 scores and filters alike. Tombstoned rows keep
their number but are never live: every retrieval path masks them out.

A loaded index is immutable, so a server swaps in a newer commit by replacing one reference;
segments the old commit shares with the new one are reused, not opened again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np

from policyqa.corpus.lifecycle import number_key, plain_title
from policyqa.corpus.types import DocMeta, Passage
from policyqa.errors import IndexDamaged
from policyqa.index import usable
from policyqa.index.bm25 import BM25, KeyedVocab, Postings
from policyqa.index.store import doctable, layout, segment
from policyqa.index.store.doctable import KEYS, DocTable
from policyqa.index.store.rowfile import RowFile
from policyqa.index.store.schema import Manifest
from policyqa.index.usable import Target

CACHE = 4096  # passages and documents kept after being read
RERANK_MIN = 40  # ANN candidates re-scored exactly, at least (see ann_candidates)


@dataclass
class OpenSegment:
    """One segment's query-time parts; shared between loaded commits that both list it."""

    name: str
    path: Path
    rows: int
    docs: int
    vectors: np.ndarray | RowFile  # mapped (exact search), or read per question (ANN: re-scoring only)
    doc_of: np.ndarray  # row → document number within the segment
    postings: Postings  # offset 0; re-based per commit
    table: DocTable  # the documents' ids and metadata
    con: sqlite3.Connection
    ann: object | None = None  # FAISS HNSW / IVF-SQ8 index, or None: exact search over `vectors`
    kind: str = "flat"
    embedded: bool = True  # False: written before its vectors; BM25 finds its rows, dense search skips them
    lock: threading.Lock = field(default_factory=threading.Lock)

    def query(self, sql: str, args=()) -> list[tuple]:
        with self.lock:
            return self.con.execute(sql, args).fetchall()

    def memory(self) -> dict[str, int]:
        p = self.postings
        out = {"postings (on disk, read per question)": int(p.rows.nbytes + p.tf.nbytes),
               "vocabulary": p.vocab.nbytes + int(p.ptr.nbytes), "row arrays": int(self.doc_of.nbytes + p.lengths.nbytes),
               "document columns": self.table.nbytes(),
               "vectors (mapped)" if self.ann is None else "vectors (on disk, read per question)": int(self.vectors.nbytes)}
        if self.ann is not None:
            out[f"{self.kind} index"] = (self.path / "ann.faiss").stat().st_size
        return out


def _damaged(index_dir: Path, what: str) -> IndexDamaged:
    return IndexDamaged(f"{what}; rebuild the damaged part with: {usable.rebuild_command(index_dir)}")


def open_segment(index_dir: Path, entry: dict, full_check: bool = False) -> OpenSegment:
    """Open a segment after checking its files against the commit; damage is one IndexDamaged line."""
    path = Path(index_dir) / entry["name"]
    problem = segment.verify(path, entry, full_check)
    if problem:
        raise _damaged(index_dir, f"segment {entry['name']} is damaged: {problem}")
    try:
        # postings, and the vectors of a segment searched through an ANN index, are read with pread
        # for what a question needs (index/store/rowfile.py): opening reads nothing (at 1M passages the
        # postings alone were 1 GB read whole) and the process keeps none of it. An exactly searched
        # segment's vectors are mapped: every question reads all of them (a plain ndarray over the
        # mapping: np.memmap's subclass costs ~1 ms per product).
        kind = entry.get("vectors", "flat")
        if not segment.embedded(entry):  # vectors still to come (a build publishing as it goes)
            vectors = np.zeros((entry["rows"], 0), dtype=np.float32)
        elif kind != "flat":
            vectors = RowFile(path / "vectors.npy")
        else:
            vectors = np.asarray(np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False))
        arrays = {n: np.load(path / n, allow_pickle=False) for n in ("doc_of.npy", "lengths.npy", "post_ptr.npy")}
        arrays |= {n: RowFile(path / n) for n in ("post_row.npy", "post_tf.npy")}
        vocab = KeyedVocab(np.asarray(np.load(path / "term_keys.npy", mmap_mode="r", allow_pickle=False)))
        ann = None
        if kind != "flat":
            import faiss

            # the codes mapped, not read (IO_FLAG_MMAP_IFC): opening copies nothing, and the process holds
            # the pages its searches touch (a segment never changes, so the mapping stays valid)
            ann = faiss.read_index(str(path / "ann.faiss"), faiss.IO_FLAG_MMAP_IFC)
        con = segment.open_store(path / "store.sqlite")
        table = doctable.read(path)
    except (ValueError, OSError, sqlite3.DatabaseError, TypeError, UnicodeDecodeError, RuntimeError) as e:
        raise _damaged(index_dir, f"segment {entry['name']} is damaged: {type(e).__name__}: {str(e)[:120]}") from None
    if vectors.shape[0] != entry["rows"] or len(arrays["doc_of.npy"]) != entry["rows"] or len(table) != entry["docs"]:
        raise _damaged(index_dir, f"segment {entry['name']} is damaged: its parts disagree on the number of rows")
    if len(vocab) + 1 != len(arrays["post_ptr.npy"]):
        raise _damaged(index_dir, f"segment {entry['name']} is damaged: its vocabulary and postings disagree")
    post = Postings(vocab, arrays["post_ptr.npy"], arrays["post_row.npy"],
                    arrays["post_tf.npy"], arrays["lengths.npy"], 0)
    return OpenSegment(entry["name"], path, entry["rows"], entry["docs"], vectors, arrays["doc_of.npy"], post, table,
                       con, ann, kind, segment.embedded(entry))


class LazyDocument:
    """A document whose metadata is in memory and whose text and passages are read when asked for."""

    __slots__ = ("_index", "_gdoc", "doc_id", "source", "meta", "n_passages")

    def __init__(self, index: LoadedIndex, gdoc: int, doc_id: str, source: str, meta: DocMeta, n_passages: int):
        self._index, self._gdoc = index, gdoc
        self.doc_id, self.source, self.meta, self.n_passages = doc_id, source, meta, n_passages

    @property
    def text(self) -> str:
        return self._index.doc_text(self._gdoc)

    @property
    def passages(self) -> list[Passage]:
        return self._index.doc_passages(self._gdoc)


class LiveDocs(Mapping):
    """doc_id → LazyDocument for the live documents, each found (binary search over each segment's
    ids) and made when asked for: a dict of every document cost a second at 670,000 documents, and
    a question looks at a few dozen."""

    def __init__(self, index: LoadedIndex):
        self._index = index
        self._len = int(index.doc_live.sum())

    def __getitem__(self, key: str) -> LazyDocument:
        gdoc = self._index.find(key) if isinstance(key, str) else None
        if gdoc is None:
            raise KeyError(key)
        return self._index.lazy(gdoc)

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and self._index.find(key) is not None

    def __iter__(self) -> Iterator[str]:
        return map(self._index.doc_id, np.flatnonzero(self._index.doc_live).tolist())

    def __len__(self) -> int:
        return self._len


class ColumnLibrary:
    """The live documents as a lifecycle library (qa/lifecycle.py's Library): the documents that name
    others, and those with a given 文号 or title, found by numpy over each segment's columns; only
    what is found is parsed."""

    def __init__(self, index: LoadedIndex):
        self._index = index

    def meta(self, doc_id: str) -> DocMeta | None:
        gdoc = self._index.find(doc_id)
        return None if gdoc is None else self._index.meta(gdoc)

    def _where(self, column: str, value) -> list[int]:
        idx, out = self._index, []
        for i, s in enumerate(idx.segments):
            lo = int(idx.doc_offsets[i])
            hit = np.flatnonzero((s.table.cols[column] == value) & idx.doc_live[lo : lo + s.docs])
            out += (hit + lo).tolist()
        return out

    def referrers(self) -> list[str]:
        return [self._index.doc_id(g) for g in self._where("refers", True)]

    def numbered(self, year: int, number: int) -> list[tuple[str, str]]:
        out = []
        for g in self._where("number_key", doctable.number_value(year, number)):
            key = number_key(self._index.meta(g).doc_number or "")
            if key is not None:
                out.append((key[0], self._index.doc_id(g)))
        return out

    def titled(self, title: str) -> list[str]:
        found = self._where("title_key", doctable.title_value(title))
        return [self._index.doc_id(g) for g in found if plain_title(self._index.meta(g).title) == title]


class PassageRows(Sequence):
    """Passages by row number, read from the segment stores on demand; iteration yields live ones."""

    def __init__(self, index: LoadedIndex):
        self._index = index

    def __len__(self) -> int:
        return self._index.total

    def __getitem__(self, pid):
        if isinstance(pid, slice):
            return [self[i] for i in range(*pid.indices(len(self)))]
        return self._index.passage(int(pid))

    def __iter__(self) -> Iterator[Passage]:
        idx = self._index
        for pid in np.flatnonzero(idx.live):
            yield idx.passage(int(pid))


class LoadedIndex:
    def __init__(self, commit: layout.Commit, manifest: Manifest, segments: list[OpenSegment], pointer_mtime: float):
        self.commit = commit
        self.manifest = manifest
        self.segments = segments
        self.pointer_mtime = pointer_mtime
        self.offsets = np.cumsum([0] + [s.rows for s in segments]).astype(np.int64)
        self.doc_offsets = np.cumsum([0] + [s.docs for s in segments]).astype(np.int64)
        self.total = int(self.offsets[-1])
        # which (segment, document number) are live, and under which source name: the commit's catalogue,
        # read in C (map, itemgetter, numpy): a server picks up each commit, and a Python pass over
        # 670,000 entries was most of a reload
        seg_pos = {s.name: i for i, s in enumerate(segments)}
        n_docs = int(self.doc_offsets[-1])
        self.doc_live = np.zeros(n_docs, dtype=bool)
        catalog = manifest["documents"]
        seg_of = np.fromiter(map(seg_pos.__getitem__, map(itemgetter("segment"), catalog.values())), np.int64, len(catalog))
        gdoc = self.doc_offsets[seg_of] + np.fromiter(map(itemgetter("doc_num"), catalog.values()), np.int64, len(catalog))
        self.doc_live[gdoc] = True
        self.n_docs = n_docs
        # the source each live document is indexed as: its position in the catalogue, per document
        self._sources = list(catalog)
        self._source_at = np.full(n_docs, -1, dtype=np.int64)
        self._source_at[gdoc] = np.arange(len(catalog))
        self.doc_of = np.concatenate([s.doc_of.astype(np.int64) + self.doc_offsets[i] for i, s in enumerate(segments)]
                                     ) if segments else np.zeros(0, np.int64)
        self.live = self.doc_live[self.doc_of]
        # rows dense search may see: the live rows of segments whose vectors are there
        self.with_vectors = self.live.copy()
        for i, s in enumerate(segments):
            if not s.embedded:
                self.with_vectors[int(self.offsets[i]) : int(self.offsets[i + 1])] = False
        self.pending = int(self.live.sum() - self.with_vectors.sum())  # live passages not embedded yet
        self._counts = np.bincount(self.doc_of, minlength=n_docs)
        self.docs = LiveDocs(self)
        self.passages = PassageRows(self)
        postings = [Postings(s.postings.vocab, s.postings.ptr, s.postings.rows, s.postings.tf, s.postings.lengths,
                             int(self.offsets[i])) for i, s in enumerate(segments)]
        self.bm25 = BM25(postings, self.live)
        # the places of live documents, from each segment's distinct values (kept while it is open)
        places = self._live_values("place")
        self.cities = {m.city for m in places if m.city}
        self.prefectures = {m.city: m.prefecture for m in places if m.city and m.prefecture}
        self._cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()
        self._threads = None  # the ANN searches' thread pool, made at the first one

    # -- what queries use ---------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.manifest["model"]

    def lazy(self, gdoc: int) -> LazyDocument | None:
        """Document `gdoc` (index-wide number) with its metadata; its text is read when asked for."""
        if not self.doc_live[gdoc]:
            return None
        return self._cached(("m", gdoc), lambda: LazyDocument(
            self, gdoc, self.doc_id(gdoc), self._sources[int(self._source_at[gdoc])], self.meta(gdoc), int(self._counts[gdoc])))

    def doc_id(self, gdoc: int) -> str:
        seg, num = self._doc_seg(gdoc)
        return seg.table.doc_id(num)

    def meta(self, gdoc: int) -> DocMeta:
        seg, num = self._doc_seg(gdoc)
        return seg.table.meta(num)

    def find(self, doc_id: str) -> int | None:
        """The live document's index-wide number, None when no live document has this id."""
        for i, s in enumerate(self.segments):
            for num in s.table.find(doc_id):
                g = int(self.doc_offsets[i]) + num
                if self.doc_live[g]:
                    return g
        return None

    def library(self) -> ColumnLibrary:
        return ColumnLibrary(self)

    def doc(self, pid: int) -> LazyDocument:
        return self.lazy(int(self.doc_of[pid]))

    def _locate(self, pid: int) -> tuple[OpenSegment, int]:
        i = int(np.searchsorted(self.offsets, pid, side="right")) - 1
        return self.segments[i], pid - int(self.offsets[i])

    def vector(self, pid: int) -> np.ndarray | None:
        """The passage's vector; None while its segment is not embedded."""
        seg, row = self._locate(pid)
        return np.asarray(seg.vectors[row], dtype=np.float32) if seg.embedded else None

    def dense(self, query_vec: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids) of the k nearest live (and allowed) passages, with exact scores.

        Each segment is searched on its own and the results merged: exactly over its vectors, or
        through its ANN index when it has one, with tombstoned and filtered-out rows excluded by a
        FAISS ID selector (HNSW cannot remove ids, so they are skipped at search time). A filter that
        leaves few rows of an HNSW segment compares every one of those rows by its 8-bit code instead
        of following the graph (none is missed, and no vector is read from disk but the best few's);
        of an exactly searched or IVF segment, by its vectors.
        ANN indexes compare 8-bit codes: their candidates from all segments are merged by those
        scores, and the best k + k/4 (at least RERANK_MIN) re-scored exactly from the vectors on disk.
        The ANN searches run on a thread per core (FAISS releases the GIL)."""
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        mask = self.with_vectors if allowed is None else (allowed & self.with_vectors)
        k = min(k, int(mask.sum()))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        all_scores, all_ids, jobs = [], [], []
        for i, seg in enumerate(self.segments):
            lo = int(self.offsets[i])
            m = mask[lo : lo + seg.rows]
            count = int(m.sum())
            if count == 0:
                continue
            kk = min(k, count)
            few = count < max(20 * k, seg.rows // 20)
            if seg.ann is None or (few and seg.kind != "hnsw"):
                ids = None if count == seg.rows else np.flatnonzero(m)
                sc = seg.vectors @ q if ids is None else seg.vectors[ids] @ q
                top = np.argpartition(-sc, kk - 1)[:kk]
                all_scores.append(sc[top])
                all_ids.append((top if ids is None else ids[top]) + lo)
            else:
                jobs.append((i, None if count == seg.rows else m, few))
        if jobs:
            fetch = ann_candidates(k)

            def search(job):
                return ann_search(self.segments[job[0]], q, fetch, job[1], ef=max(128, 2 * k), scan=job[2])

            found = list(self._pool().map(search, jobs)) if len(jobs) > 1 else [search(jobs[0])]
            approx = [(sc, rows, i) for (i, _, _), (sc, rows) in zip(jobs, found)]
            seg_of = np.concatenate([np.full(len(rows), i) for sc, rows, i in approx])
            rows = np.concatenate([rows for _, rows, _ in approx])
            best = np.argsort(-np.concatenate([sc for sc, _, _ in approx]), kind="stable")[:fetch]
            for i in np.unique(seg_of[best]):
                pick = np.sort(rows[best[seg_of[best] == i]])
                all_scores.append(np.asarray(self.segments[i].vectors[pick] @ q, dtype=np.float32))
                all_ids.append(pick + int(self.offsets[i]))
        scores = np.concatenate(all_scores).astype(np.float32)
        ids = np.concatenate(all_ids).astype(np.int64)
        order = np.lexsort((ids, -scores))[:k]
        return scores[order], ids[order]

    def _pool(self):
        if self._threads is None:
            from concurrent.futures import ThreadPoolExecutor

            self._threads = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
        return self._threads

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        return self.bm25.scores(tokens)

    def _live_values(self, key: str) -> list[DocMeta]:
        """One live document's metadata per distinct KEYS[key] value in each segment."""
        out = []
        for i, s in enumerate(self.segments):
            codes, reps = s.table.groups(key)
            live = self.doc_live[int(self.doc_offsets[i]) : int(self.doc_offsets[i + 1])]
            out += [reps[c] for c in np.unique(codes[live]).tolist()]
        return out

    def doc_mask(self, predicate, key: str = "place") -> np.ndarray:
        """Per document, predicate(meta), evaluated once per distinct value of KEYS[key].

        Each segment numbers its documents' distinct values once (kept while it is open), so a
        filter costs a predicate call per value and one numpy take, not a Python pass over every
        document (200 ms a question at 670,000 documents)."""
        codes, reps = [], {}
        for s in self.segments:
            seg_codes, seg_reps = s.table.groups(key)
            lut = np.fromiter((reps.setdefault(KEYS[key](vars(m)), (len(reps), m))[0] for m in seg_reps), np.int64,
                              len(seg_reps))
            codes.append(lut[seg_codes] if len(seg_codes) else seg_codes.astype(np.int64))
        verdict = np.zeros(len(reps), dtype=bool)
        for i, m in reps.values():
            verdict[i] = bool(predicate(m))
        return verdict[np.concatenate(codes)] if codes else np.zeros(0, dtype=bool)

    # -- reading texts ------------------------------------------------------------------------

    def _cached(self, key, load):
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = load()
        with self._cache_lock:
            self._cache[key] = value
            while len(self._cache) > CACHE:
                self._cache.popitem(last=False)
        return value

    def passage(self, pid: int) -> Passage:
        def load() -> Passage:
            seg, row = self._locate(pid)
            r = seg.query('SELECT ordinal, start, "end", section, body, page, ocr FROM passages WHERE row=?', (row,))
            if not r:
                raise IndexError(pid)
            ordinal, start, end, section, body, page, ocr = r[0]
            return Passage(self.doc_id(int(self.doc_of[pid])), ordinal, start, end, json.loads(section), body, page, bool(ocr))

        return self._cached(("p", pid), load)

    def _doc_seg(self, gdoc: int) -> tuple[OpenSegment, int]:
        i = int(np.searchsorted(self.doc_offsets, gdoc, side="right")) - 1
        return self.segments[i], gdoc - int(self.doc_offsets[i])

    def doc_text(self, gdoc: int) -> str:
        def load() -> str:
            seg, num = self._doc_seg(gdoc)
            return seg.query("SELECT text FROM documents WHERE doc_num=?", (num,))[0][0]

        return self._cached(("d", gdoc), load)

    def doc_passages(self, gdoc: int) -> list[Passage]:
        seg, num = self._doc_seg(gdoc)
        doc_id = self.doc_id(gdoc)
        rows = seg.query('SELECT ordinal, start, "end", section, body, page, ocr FROM passages WHERE doc_num=? ORDER BY row',
                         (num,))
        return [Passage(doc_id, o, a, b, json.loads(s), body, page, bool(ocr)) for o, a, b, s, body, page, ocr in rows]

    def memory(self) -> dict[str, int]:
        """Bytes per part held by this process (vectors are mapped: the OS pages them in and out)."""
        out: dict[str, int] = {}
        for s in self.segments:
            for k, v in s.memory().items():
                out[k] = out.get(k, 0) + v
        out["row arrays"] = out.get("row arrays", 0) + int(self.doc_of.nbytes + self.live.nbytes)
        return out


def ann_candidates(k: int) -> int:
    """How many ANN candidates are kept (per segment, then overall) and re-scored exactly for k hits."""
    return max(k + k // 4, RERANK_MIN)


def ann_search(seg: OpenSegment, q: np.ndarray, k: int, mask: np.ndarray | None, ef: int = 128, scan: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """(approximate scores, rows) of a segment's k best live, allowed rows by its ANN index; `scan`
    (HNSW only): by comparing the code of every allowed row, not following the graph."""
    import faiss

    index = seg.ann
    if scan:
        index = faiss.downcast_index(seg.ann.storage)  # the graph's 8-bit codes, a flat scalar-quantizer index
        params = faiss.SearchParameters()
    elif seg.kind == "hnsw":
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef, k)
    else:
        params = faiss.SearchParametersIVF()
        params.nprobe = max(16, seg.ann.nlist // 8)
    bits = None
    if mask is not None:
        bits = np.packbits(mask, bitorder="little")
        params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    scores, found = index.search(q.reshape(1, -1), k, params=params)
    del bits  # the selector reads it during the search only
    keep = found[0] >= 0
    return scores[0][keep], found[0][keep]


def load(index_dir: Path, reuse: LoadedIndex | None = None, full_check: bool = False) -> LoadedIndex:
    """Open the live commit; segments already open in `reuse` (the previous commit) are not reopened."""
    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    mtime = pointer.stat().st_mtime if pointer.exists() else 0.0
    commit = layout.require_current(index_dir)
    manifest = commit.manifest()
    if manifest.get("format") != layout.FORMAT:
        usable.check(manifest, Target(index_dir), chunker=manifest.get("chunker"), fmt=layout.FORMAT)
    have = {s.name: s for s in reuse.segments} if reuse is not None else {}
    # a segment now embedded is opened again: the commit that was read had it without vectors
    segments = [s if (s := have.get(e["name"])) is not None and s.embedded == segment.embedded(e)
                else open_segment(index_dir, e, full_check) for e in manifest["segments"]]
    return LoadedIndex(commit, manifest, segments, mtime)


def is_stale(loaded: LoadedIndex, index_dir: Path) -> bool:
    """True when a build has published a newer commit since `loaded` was read."""
    try:
        pointer = Path(index_dir) / "CURRENT"
        if os.stat(pointer).st_mtime == loaded.pointer_mtime:
            return False
        return pointer.read_text(encoding="utf-8").strip() != loaded.commit.path.name
    except FileNotFoundError:
        return False
