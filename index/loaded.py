"""An index opened for querying: what a query needs in memory, everything else read on demand.

In memory: the BM25 postings and row lengths of each segment, a few compact arrays per passage
(its document number, whether it is live) and per document (metadata for filters). Vectors are
memory-mapped. Passage and document texts stay in each segment's SQLite store and are read
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
from pathlib import Path

import numpy as np
import orjson

from policyqa.corpus.sections import ChunkParams
from policyqa.corpus.types import DocMeta, Passage
from policyqa.index import layout, segment
from policyqa.index.embedder import canonical
from policyqa.index.lexical import BM25, Postings

CACHE = 4096  # passages and documents kept after being read


@dataclass
class OpenSegment:
    """One segment's query-time parts; shared between loaded commits that both list it."""

    name: str
    path: Path
    rows: int
    docs: int
    vectors: np.ndarray  # memory-mapped
    doc_of: np.ndarray  # row → document number within the segment
    postings: Postings  # offset 0; re-based per commit
    metas: list[DocMeta]
    doc_ids: list[str]
    con: sqlite3.Connection
    ann: object | None = None  # FAISS HNSW / IVF-SQ8 index, or None: exact search over `vectors`
    kind: str = "flat"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def query(self, sql: str, args=()) -> list[tuple]:
        with self.lock:
            return self.con.execute(sql, args).fetchall()

    def memory(self) -> dict[str, int]:
        out = {"postings": self.postings.nbytes + sum(len(t) * 8 for t in self.postings.vocab) // 4,
               "row arrays": int(self.doc_of.nbytes), "vectors (mapped)": int(self.vectors.nbytes)}
        if self.ann is not None:
            out[f"{self.kind} index"] = (self.path / "ann.faiss").stat().st_size
        return out


def _damaged(index_dir: Path, what: str) -> layout.IndexDamaged:
    return layout.IndexDamaged(f"{what}; rebuild the damaged part with: {layout.rebuild_hint(index_dir)}")


def open_segment(index_dir: Path, entry: dict, full_check: bool = False) -> OpenSegment:
    """Open a segment after checking its files against the commit; damage is one IndexDamaged line."""
    path = Path(index_dir) / entry["name"]
    problem = segment.verify(path, entry, full_check)
    if problem:
        raise _damaged(index_dir, f"segment {entry['name']} is damaged: {problem}")
    try:
        # a plain ndarray over the mapping: np.memmap's subclass costs ~1 ms per product
        vectors = np.asarray(np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False))
        arrays = {n: np.load(path / n, allow_pickle=False) for n in ("doc_of.npy", "lengths.npy", "post_ptr.npy",
                                                                      "post_row.npy", "post_tf.npy")}
        terms = orjson.loads((path / "terms.json").read_bytes())
        ann, kind = None, entry.get("vectors", "flat")
        if kind != "flat":
            import faiss

            ann = faiss.read_index(str(path / "ann.faiss"))
        con = segment.open_store(path / "store.sqlite")
        metas, doc_ids = [], []
        for _num, doc_id, meta in con.execute("SELECT doc_num, doc_id, meta FROM documents ORDER BY doc_num"):
            doc_ids.append(doc_id)
            metas.append(DocMeta(**orjson.loads(meta)))  # 67,000 of them at 100k passages: orjson, 3× json
    except (ValueError, OSError, sqlite3.DatabaseError, TypeError, UnicodeDecodeError, RuntimeError) as e:
        raise _damaged(index_dir, f"segment {entry['name']} is damaged: {type(e).__name__}: {str(e)[:120]}") from None
    if vectors.shape[0] != entry["rows"] or len(arrays["doc_of.npy"]) != entry["rows"] or len(doc_ids) != entry["docs"]:
        raise _damaged(index_dir, f"segment {entry['name']} is damaged: its parts disagree on the number of rows")
    post = Postings({t: i for i, t in enumerate(terms)}, arrays["post_ptr.npy"], arrays["post_row.npy"],
                    arrays["post_tf.npy"], arrays["lengths.npy"], 0)
    return OpenSegment(entry["name"], path, entry["rows"], entry["docs"], vectors, arrays["doc_of.npy"], post, metas,
                       doc_ids, con, ann, kind)


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
    """doc_id → LazyDocument for the live documents."""

    def __init__(self, by_id: dict[str, LazyDocument]):
        self._by_id = by_id

    def __getitem__(self, key: str) -> LazyDocument:
        return self._by_id[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


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
    def __init__(self, commit: layout.Commit, manifest: dict, segments: list[OpenSegment], pointer_mtime: float):
        self.generation = commit  # the commit this index shows (name kept from when it was a generation)
        self.commit = commit
        self.manifest = manifest
        self.segments = segments
        self.pointer_mtime = pointer_mtime
        self.offsets = np.cumsum([0] + [s.rows for s in segments]).astype(np.int64)
        self.doc_offsets = np.cumsum([0] + [s.docs for s in segments]).astype(np.int64)
        self.total = int(self.offsets[-1])
        # which (segment, document number) are live, and under which source name: the commit's catalogue
        seg_pos = {s.name: i for i, s in enumerate(segments)}
        n_docs = int(self.doc_offsets[-1])
        self.doc_live = np.zeros(n_docs, dtype=bool)
        source_of: dict[int, str] = {}
        for source, d in manifest["documents"].items():
            g = int(self.doc_offsets[seg_pos[d["segment"]]]) + int(d["doc_num"])
            self.doc_live[g] = True
            source_of[g] = source
        self.doc_of = np.concatenate([s.doc_of.astype(np.int64) + self.doc_offsets[i] for i, s in enumerate(segments)]
                                     ) if segments else np.zeros(0, np.int64)
        self.live = self.doc_live[self.doc_of]
        self.doc_list = [d for s in segments for d in s.doc_ids]
        self.metas = [m for s in segments for m in s.metas]
        counts = np.bincount(self.doc_of, minlength=n_docs)
        by_id = {}
        for g in np.flatnonzero(self.doc_live):
            g = int(g)
            by_id[self.doc_list[g]] = LazyDocument(self, g, self.doc_list[g], source_of[g], self.metas[g], int(counts[g]))
        self.docs = LiveDocs(by_id)
        self._lazy = [by_id.get(d) if self.doc_live[g] else None for g, d in enumerate(self.doc_list)]
        self.passages = PassageRows(self)
        postings = [Postings(s.postings.vocab, s.postings.ptr, s.postings.rows, s.postings.tf, s.postings.lengths,
                             int(self.offsets[i])) for i, s in enumerate(segments)]
        self.bm25 = BM25(postings, self.live)
        live_metas = [d.meta for d in by_id.values()]
        self.cities = {m.city for m in live_metas if m.city}
        self.prefectures = {m.city: m.prefecture for m in live_metas if m.city and m.prefecture}
        self._cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- what queries use ---------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.manifest["model"]

    def doc(self, pid: int) -> LazyDocument:
        return self._lazy[int(self.doc_of[pid])]

    def _locate(self, pid: int) -> tuple[OpenSegment, int]:
        i = int(np.searchsorted(self.offsets, pid, side="right")) - 1
        return self.segments[i], pid - int(self.offsets[i])

    def vector(self, pid: int) -> np.ndarray:
        seg, row = self._locate(pid)
        return np.asarray(seg.vectors[row], dtype=np.float32)

    def dense_scores(self, query_vec: np.ndarray) -> np.ndarray:
        """Inner product (cosine: vectors are normalized) of the question with every row."""
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        if not self.segments:
            return np.zeros(0, np.float32)
        return np.concatenate([np.asarray(s.vectors @ q, dtype=np.float32) for s in self.segments])

    def dense(self, query_vec: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids) of the k nearest live (and allowed) passages.

        Each segment is searched on its own and the results merged: exactly over its vectors, or
        through its ANN index when it has one, with tombstoned and filtered-out rows excluded by a
        FAISS ID selector (HNSW cannot remove ids, so they are skipped at search time). A filter that
        leaves few rows of a segment is searched exactly over those rows: cheaper and never misses.
        """
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        mask = self.live if allowed is None else (allowed & self.live)
        k = min(k, int(mask.sum()))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        all_scores, all_ids = [], []
        for i, seg in enumerate(self.segments):
            lo = int(self.offsets[i])
            m = mask[lo : lo + seg.rows]
            count = int(m.sum())
            if count == 0:
                continue
            kk = min(k, count)
            if seg.ann is None or count < max(20 * k, seg.rows // 20):
                ids = None if count == seg.rows else np.flatnonzero(m)
                sc = seg.vectors @ q if ids is None else seg.vectors[ids] @ q
                top = np.argpartition(-sc, kk - 1)[:kk]
                all_scores.append(sc[top])
                all_ids.append((top if ids is None else ids[top]) + lo)
                continue
            scores, found = _ann_search(seg, q, kk, None if count == seg.rows else m)
            keep = found >= 0
            all_scores.append(scores[keep])
            all_ids.append(found[keep] + lo)
        scores = np.concatenate(all_scores).astype(np.float32)
        ids = np.concatenate(all_ids).astype(np.int64)
        order = np.lexsort((ids, -scores))[:k]
        return scores[order], ids[order]

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        return self.bm25.scores(tokens)

    def doc_mask(self, predicate, key=lambda m: (m.city, m.prefecture, m.province)) -> np.ndarray:
        """Per document, predicate(meta), evaluated once per distinct `key` of the metadata."""
        seen: dict = {}
        out = np.zeros(len(self.metas), dtype=bool)
        for g, m in enumerate(self.metas):
            k = key(m)
            if k not in seen:
                seen[k] = bool(predicate(m))
            out[g] = seen[k]
        return out

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
            return Passage(self.doc_list[int(self.doc_of[pid])], ordinal, start, end, json.loads(section), body, page, bool(ocr))

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
        doc_id = self.doc_list[gdoc]
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


def _ann_search(seg: OpenSegment, q: np.ndarray, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    if seg.kind == "hnsw":
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(128, 2 * k)
    else:
        params = faiss.SearchParametersIVF()
        params.nprobe = max(16, seg.ann.nlist // 8)
    bits = None
    if mask is not None:
        bits = np.packbits(mask, bitorder="little")
        params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    scores, found = seg.ann.search(q.reshape(1, -1), k, params=params)
    del bits  # the selector reads it during the search only
    return scores[0], found[0]


def rebuild_command(manifest: dict, index_dir: Path, corpus_dir: Path | None = None, model: str | None = None) -> str:
    """The build that fixes an index: with `--corpus` when the index was built from another folder
    than a plain `policyqa build` would read (`corpus_dir`), else it would index the wrong one."""
    cmd = f"policyqa build --index {index_dir}"
    built_from = manifest.get("corpus_dir")
    if built_from and (corpus_dir is None or Path(built_from) != Path(corpus_dir).resolve()):
        cmd += f" --corpus {built_from}"
    return cmd + (f" --model {model}" if model else "")


def check_compatible(manifest: dict, model: str | None, chunking: ChunkParams, index_dir: Path,
                     corpus_dir: Path | None = None) -> None:
    """Refuse an index that this code or this model would query wrongly, naming the fix."""
    if manifest.get("format") != layout.FORMAT:
        raise layout.IndexMismatch(
            f"index in {index_dir} has format {manifest.get('format')}, this version reads {layout.FORMAT}; "
            f"rebuild it with: {rebuild_command(manifest, index_dir, corpus_dir)}"
        )
    if model and canonical(model) != canonical(manifest["model"]):
        raise layout.IndexMismatch(
            f"index in {index_dir} was built with model {manifest['model']!r}, not {model!r}; "
            f"re-embed with: {rebuild_command(manifest, index_dir, corpus_dir, model)}"
        )
    if manifest.get("chunker") != chunking.chunker_id:
        raise layout.IndexMismatch(
            f"index in {index_dir} was chunked with {manifest.get('chunker')}, this version uses "
            f"{chunking.chunker_id}; update it with: {rebuild_command(manifest, index_dir, corpus_dir)}"
        )


def load(index_dir: Path, reuse: LoadedIndex | None = None, full_check: bool = False) -> LoadedIndex:
    """Open the live commit; segments already open in `reuse` (the previous commit) are not reopened."""
    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    mtime = pointer.stat().st_mtime if pointer.exists() else 0.0
    commit = layout.require_current(index_dir)
    manifest = commit.manifest()
    if manifest.get("format") != layout.FORMAT:
        check_compatible(manifest, None, ChunkParams(), index_dir)
    have = {s.name: s for s in reuse.segments} if reuse is not None else {}
    segments = [have.get(e["name"]) or open_segment(index_dir, e, full_check) for e in manifest["segments"]]
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
