"""One immutable segment: the passages of a batch of documents, ready to query.

    seg-NNNNNN/vectors.npy     float32 rows × dim, normalized (memory-mapped by readers)
    seg-NNNNNN/doc_of.npy      int32 per row: the row's document number within the segment
    seg-NNNNNN/lengths.npy     float32 per row: BM25 document length (tokens; an empty passage counts 1)
    seg-NNNNNN/terms.json      the segment's vocabulary, term number → term
    seg-NNNNNN/term_keys.npy   uint64 per term: its 64-bit key (bm25.term_key), ascending; terms are
                               numbered in this order, so a reader finds a term by binary search over
                               a mapped array instead of holding a dict of every term
    seg-NNNNNN/post_ptr.npy    int64 per term + 1: where the term's postings start (CSR, term-major)
    seg-NNNNNN/post_row.npy    int32 per posting: the row
    seg-NNNNNN/post_tf.npy     float32 per posting: the term's frequency in the row
    seg-NNNNNN/ann.faiss       only for approximate search: a FAISS HNSW (over 8-bit codes) or IVF-SQ8
                               index of the rows; its candidates are re-scored exactly from vectors.npy
    seg-NNNNNN/docs.bin, docs.npz  the documents' ids and metadata as columns, parsed per document
                               when asked for (index/store/doctable.py): what a reader holds of each
    seg-NNNNNN/store.sqlite    documents (text, metadata) and passages (body, section, tokens):
                               read for hits only, and by merges

Postings hold raw term frequencies, not scores: BM25's IDF and average length are computed at
query time from the live rows of all segments together, so they are those of the whole corpus
(index/bm25.py). A segment never changes after it is written; removing a document is a
tombstone in the commit.

One exception, made so a new corpus answers while it is embedded: a build may write a segment
before its vectors exist (its commit entry says `"embedded": false` and lists no vectors.npy;
readers search it by BM25 only) and later put vectors.npy beside its other files
(`attach_vectors`), publishing a commit whose entry lists it. No file a commit lists ever
changes: the older commit does not name vectors.npy, so it reads the segment as before.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import orjson

from policyqa.corpus.types import DocMeta, Document, Passage, indexed_text
from policyqa.index.bm25 import term_key
from policyqa.index.store import doctable, layout
from policyqa.index.store.schema import SegmentEntry

SCHEMA = """
CREATE TABLE documents (
    doc_num INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, source TEXT NOT NULL, size INTEGER,
    meta TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE passages (
    row INTEGER PRIMARY KEY, doc_num INTEGER NOT NULL, ordinal INTEGER, start INTEGER, "end" INTEGER,
    section TEXT NOT NULL, body TEXT NOT NULL, tokens TEXT NOT NULL, text_hash TEXT NOT NULL,
    page INTEGER, ocr INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX passages_doc ON passages(doc_num);
"""

NUMPY_FILES = ("vectors.npy", "doc_of.npy", "lengths.npy", "post_ptr.npy", "post_row.npy", "post_tf.npy", "term_keys.npy")
FILES = (*NUMPY_FILES, "terms.json", *doctable.FILES, "store.sqlite")


@dataclass
class SegmentInput:
    """What a segment is written from: documents in order, and per passage its tokens and vector."""

    docs: list[Document]
    sizes: dict[str, int]
    tokens: list[list[str]]  # aligned with the passages of `docs` in order
    vectors: np.ndarray | None  # None: not embedded yet (searched by BM25 until `attach_vectors`)
    hashes: list[str]
    kind: str = "flat"  # flat | hnsw | ivf-sq8


# efConstruction 40 is faiss's default: a 200,000-row graph builds in half the time 80 takes (docs/scale.md)
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 40


def ann_index(vectors: np.ndarray, kind: str):
    """A FAISS index over the rows for approximate inner-product search (row number = FAISS id)."""
    import faiss

    n, dim = vectors.shape
    if kind == "hnsw":
        # the graph over 8-bit codes, not a float32 copy of every vector: a third of the memory (2.3 GB
        # → 0.8 GB at 1M passages), built and searched faster; readers re-score its candidates exactly
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.train(vectors)
    elif kind == "ivf-sq8":
        nlist = max(1, min(int(4 * n**0.5), n // 39))
        index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    else:
        raise ValueError(f"unknown vector index kind {kind!r}")
    index.add(vectors)
    return index


def postings(tokens: list[list[str]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(terms, keys, ptr, rows, tf, lengths): term-major CSR of term frequencies, terms numbered in
    ascending order of their keys (bm25.term_key), and each row's length.

    Every per-token step is a C-level map or numpy (a Python loop over the tokens was the largest
    part of a build's own time, competing with the reading workers for the cores)."""
    n = len(tokens)
    counts_per_row = np.fromiter(map(len, tokens), dtype=np.int64, count=n)
    lengths = np.maximum(counts_per_row, 1).astype(np.float32)  # bm25s indexed an empty passage as one blank token
    flat = list(chain.from_iterable(tokens))
    words = list(dict.fromkeys(flat))  # in order of first use
    number = dict(zip(words, range(len(words))))
    n_terms = len(words)
    keys = np.fromiter(map(term_key, words), dtype=np.uint64, count=n_terms)
    order = np.argsort(keys, kind="stable")
    rank = np.empty(n_terms, dtype=np.int64)
    rank[order] = np.arange(n_terms)
    terms, keys = [words[i] for i in order], keys[order]
    if not flat:
        return terms, keys, np.zeros(n_terms + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), lengths
    term_ids = np.fromiter(map(number.__getitem__, flat), dtype=np.int64, count=len(flat))
    row_ids = np.repeat(np.arange(n, dtype=np.int64), counts_per_row)
    key = rank[term_ids] * n + row_ids
    uniq, counts = np.unique(key, return_counts=True)
    terms_of = uniq // n
    rows = (uniq % n).astype(np.int32)
    ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms_of, minlength=n_terms), out=ptr[1:])
    return terms, keys, ptr, rows, counts.astype(np.float32), lengths


def write(index_dir: Path, seq: int, data: SegmentInput) -> SegmentEntry:
    """Write a segment folder whole and return its commit entry (name, counts, file sizes and hashes)."""
    tmp = layout.new_segment_dir(index_dir, seq)
    terms, keys, ptr, rows, tf, lengths = postings(data.tokens)
    doc_of = np.asarray([i for i, d in enumerate(data.docs) for _ in d.passages], dtype=np.int32)
    metas = [d.meta.to_dict() for d in data.docs]
    con = _new_store(tmp)
    try:
        con.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?)",
            [(i, d.doc_id, d.source, data.sizes.get(d.doc_id, 0), json.dumps(m, ensure_ascii=False), d.text)
             for i, (d, m) in enumerate(zip(data.docs, metas))],
        )
        out, row = [], 0
        for i, d in enumerate(data.docs):
            for p in d.passages:
                out.append((row, i, p.ordinal, p.start, p.end, json.dumps(p.section, ensure_ascii=False), p.body,
                            " ".join(data.tokens[row]), data.hashes[row], p.page, int(p.ocr)))
                row += 1
        con.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?)", out)
        con.commit()
    finally:
        con.close()
    arrays = {"doc_of.npy": doc_of, "lengths.npy": lengths, "post_ptr.npy": ptr, "post_row.npy": rows,
              "post_tf.npy": tf, "term_keys.npy": keys}
    if data.vectors is not None:
        arrays["vectors.npy"] = np.ascontiguousarray(data.vectors, dtype=np.float32)
    elif data.kind != "flat":
        raise ValueError("a segment without vectors is searched exactly once they come: write it flat")
    return _finish(tmp, arrays, terms, [[d.doc_id, m] for d, m in zip(data.docs, metas)], data.kind)


def _new_store(tmp: Path) -> sqlite3.Connection:
    """The store of a segment being written: no journal (a failed write leaves only a .tmp folder)."""
    con = sqlite3.connect(tmp / "store.sqlite")
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")  # the whole folder is fsynced before it is put in place
    con.executescript(SCHEMA)
    return con


def _finish(tmp: Path, arrays: dict[str, np.ndarray], terms: list[str], doc_rows: list, kind: str) -> SegmentEntry:
    """Write the arrays (those not streamed there already), vocabulary, metadata and ANN index beside
    the store; put the folder in place."""
    for name, arr in arrays.items():
        np.save(tmp / name, arr, allow_pickle=False)
    (tmp / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
    doctable.write(tmp, doc_rows)
    if kind != "flat":
        import faiss

        faiss.write_index(ann_index(arrays["vectors.npy"], kind), str(tmp / "ann.faiss"))
    embedded = "vectors.npy" in arrays
    files = {name: _file_record(tmp / name) for name in FILES + (("ann.faiss",) if kind != "flat" else ())
             if embedded or name != "vectors.npy"}
    final = layout.finish_segment(tmp)
    entry: SegmentEntry = {"name": final.name, "rows": int(len(arrays["doc_of.npy"])), "docs": len(doc_rows),
                           "dimension": int(arrays["vectors.npy"].shape[1]) if embedded else 0, "vectors": kind,
                           "files": files}
    if not embedded:
        entry["embedded"] = False
    return entry


def _file_record(path: Path) -> list:
    """[size, SHA-256, mtime_ns]: what `verify` compares a segment's file with."""
    st = path.stat()
    return [st.st_size, layout.file_sha256(path), st.st_mtime_ns]


def embedded(entry: SegmentEntry) -> bool:
    """Whether a segment's vectors are there (a segment a build wrote before embedding it is not, yet)."""
    return entry.get("embedded", True)


def pending_texts(path: Path) -> tuple[list[str], list[str]]:
    """(texts to embed, their hashes) of a segment's passages in row order, read back from its store: a
    build embeds a segment after publishing it, holding no passage text in memory meanwhile."""
    con = open_store(path / "store.sqlite")
    try:
        rows = con.execute("SELECT section, body, text_hash FROM passages ORDER BY row").fetchall()
    finally:
        con.close()
    return [indexed_text(json.loads(sec), body) for sec, body, _ in rows], [h for _, _, h in rows]


def text_hashes(path: Path) -> list[str]:
    """The text hashes of a segment's passages in row order: what the embedding cache knows them by,
    read without the texts (a resumed build counting what is left to embed, a prune of the cache)."""
    con = open_store(path / "store.sqlite")
    try:
        return [h for (h,) in con.execute("SELECT text_hash FROM passages ORDER BY row")]
    finally:
        con.close()


def attach_vectors(index_dir: Path, entry: SegmentEntry, vectors: np.ndarray) -> SegmentEntry:
    """Put a written segment's vectors beside its files; the entry a commit names it by from now on.

    vectors.npy is written whole under another name, fsynced and renamed into place, so a build
    killed meanwhile leaves at most a leftover the next one overwrites; the commits that list the
    segment as not embedded never read it."""
    path = Path(index_dir) / entry["name"]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape[0] != entry["rows"]:
        raise ValueError(f"{entry['name']}: {vectors.shape[0]} vectors for {entry['rows']} passages")
    tmp = path / ".vectors.npy.tmp"
    with open(tmp, "wb") as f:
        np.save(f, vectors, allow_pickle=False)
    layout.fsync_path(tmp)
    os.replace(tmp, path / "vectors.npy")
    layout.fsync_path(path)
    done = {k: v for k, v in entry.items() if k != "embedded"}
    return done | {"dimension": int(vectors.shape[1]), "files": entry["files"] | {"vectors.npy": _file_record(path / "vectors.npy")}}


@dataclass
class Part:
    """Documents of an existing segment going into a combined one."""

    path: Path  # the segment's folder
    keep: np.ndarray  # its document numbers to keep, ascending (int64)
    sources: list[str]  # the file each kept document is indexed as now (a file may have been renamed)


POSTING_RANGES = 8  # a combine merges postings in this many slices of the term keys, one in memory at a time


def combine(index_dir: Path, seq: int, parts: list[Part], kind: str) -> SegmentEntry:
    """One new segment holding the kept documents of `parts`, in order, written from their arrays.

    Nothing is parsed, tokenized or embedded again: rows, postings and vectors are concatenated
    with numpy (terms matched by their keys), and the stores copied by SQLite. Merges and the
    folding of a big build's segments cost disk speed, not the Python objects of every passage
    (reading a 20,000-passage segment back as Documents and tokens took seconds).

    It streams: postings are merged one slice of the term keys at a time (each part's postings are
    term-major in key order, so a slice is a contiguous run of each part) and written as they come,
    and the vectors are gathered only after the postings are done, so the memory a fold of 200,000
    passages needs is its vectors and graph, not that plus every posting and its sort."""
    tmp = layout.new_segment_dir(index_dir, seq)
    # which rows of each part stay, and their numbers in the new segment
    plans = []
    row_base = doc_base = 0
    for part in parts:
        keep = part.keep
        doc_of = np.load(part.path / "doc_of.npy")
        doc_map = np.full(max(int(doc_of.max(initial=-1)), int(keep.max(initial=-1))) + 1, -1, dtype=np.int64)
        doc_map[keep] = doc_base + np.arange(len(keep))
        new_doc = doc_map[doc_of]
        rows = np.flatnonzero(new_doc >= 0)
        row_map = np.full(len(doc_of), -1, dtype=np.int64)
        row_map[rows] = row_base + np.arange(len(rows))
        plans.append((part, new_doc[rows].astype(np.int32), rows, row_map, doc_base, row_base))
        row_base, doc_base = row_base + len(rows), doc_base + len(keep)
    lengths, keys, terms, docs_kept = [], [], [], []
    con = _new_store(tmp)
    try:
        for part, _, rows, _, first_doc, first_row in plans:
            path, keep = part.path, part.keep
            lengths.append(np.load(path / "lengths.npy")[rows])
            terms += orjson.loads((path / "terms.json").read_bytes())
            keys.append(np.load(path / "term_keys.npy"))
            part_docs = doctable.read(path).rows()
            docs_kept += [part_docs[i] for i in keep.tolist()]
            del part_docs
            _copy_rows(con, path, keep, first_doc + np.arange(len(keep)), part.sources, rows, first_row + np.arange(len(rows)))
        con.commit()
    finally:
        con.close()
    # the vocabulary: every part's terms by key, numbered in key order, those left without postings dropped
    uniq, first_of, inverse = np.unique(np.concatenate(keys), return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    starts = np.cumsum([0] + [len(k) for k in keys])
    term_of_part = [inverse[starts[i] : starts[i + 1]] for i in range(len(parts))]  # ascending, as each part's keys
    del keys, inverse
    counts = _stream_postings(tmp, plans, term_of_part, len(uniq))
    used = counts > 0
    ptr = np.zeros(int(used.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[used], out=ptr[1:])
    terms = [terms[i] for i in first_of[used]]
    # the vectors, gathered now that the postings are written and gone (one copy in memory, filled in place)
    dim = np.load(parts[0].path / "vectors.npy", mmap_mode="r").shape[1]
    vectors = np.empty((row_base, dim), dtype=np.float32)
    for part, _, rows, row_map, _, first_row in plans:
        v = np.load(part.path / "vectors.npy", mmap_mode="r")
        vectors[first_row : first_row + len(rows)] = v if len(rows) == len(row_map) else v[rows]
        del v
    arrays = {"vectors.npy": vectors, "doc_of.npy": np.concatenate([p[1] for p in plans]),
              "lengths.npy": np.concatenate(lengths), "post_ptr.npy": ptr, "term_keys.npy": uniq[used]}
    return _finish(tmp, arrays, terms, docs_kept, kind)


def _stream_postings(tmp: Path, plans: list, term_of_part: list[np.ndarray], n_terms: int) -> np.ndarray:
    """Write post_row.npy and post_tf.npy of the combined segment, one slice of the vocabulary at a
    time; the number of postings each (combined) term got.

    Within a slice, the parts' runs are sorted by (term, row) and later parts' rows are higher, so
    one stable sort by term gives the term-major order a fresh write gives."""
    sources = []
    total = 0
    for (part, _, _, row_map, _, _), term_of in zip(plans, term_of_part):
        ptr = np.load(part.path / "post_ptr.npy")
        post_row = np.load(part.path / "post_row.npy", mmap_mode="r")
        post_tf = np.load(part.path / "post_tf.npy", mmap_mode="r")
        total += sum(int(np.count_nonzero(row_map[post_row[a : a + (1 << 22)]] >= 0)) for a in range(0, len(post_row), 1 << 22))
        sources.append((ptr, post_row, post_tf, row_map, term_of))
    counts = np.zeros(n_terms, dtype=np.int64)
    cuts = np.linspace(0, n_terms, POSTING_RANGES + 1).astype(np.int64)
    with open(tmp / "post_row.npy", "wb") as f_row, open(tmp / "post_tf.npy", "wb") as f_tf:
        for f, dtype in ((f_row, np.int32), (f_tf, np.float32)):
            np.lib.format.write_array_header_1_0(
                f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": (total,)})
        for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
            t_parts, r_parts, f_parts = [], [], []
            for ptr, post_row, post_tf, row_map, term_of in sources:
                a, b = np.searchsorted(term_of, lo), np.searchsorted(term_of, hi)
                p0, p1 = int(ptr[a]), int(ptr[b])
                new_row = row_map[np.asarray(post_row[p0:p1])]
                ok = new_row >= 0
                t_parts.append(np.repeat(term_of[a:b].astype(np.int32), np.diff(ptr[a : b + 1]))[ok])
                r_parts.append(new_row[ok].astype(np.int32))
                f_parts.append(np.asarray(post_tf[p0:p1])[ok])
            t = np.concatenate(t_parts)
            order = np.argsort(t, kind="stable")
            counts += np.bincount(t, minlength=n_terms) if len(t) else 0
            f_row.write(np.concatenate(r_parts)[order].tobytes())
            f_tf.write(np.concatenate(f_parts)[order].tobytes())
    return counts


def _copy_rows(con: sqlite3.Connection, path: Path, keep: np.ndarray, new_nums: np.ndarray, sources: list[str],
               rows: np.ndarray, new_rows: np.ndarray) -> None:
    """Copy the kept documents and their passages from a segment's store, renumbered, in SQLite."""
    con.execute("ATTACH DATABASE ? AS part", (str(path / "store.sqlite"),))
    try:
        con.execute("CREATE TEMP TABLE doc_map (old INTEGER PRIMARY KEY, new INTEGER, source TEXT)")
        con.execute("CREATE TEMP TABLE row_map (old INTEGER PRIMARY KEY, new INTEGER)")
        con.executemany("INSERT INTO doc_map VALUES (?,?,?)", zip(keep.tolist(), new_nums.tolist(), sources))
        con.executemany("INSERT INTO row_map VALUES (?,?)", zip(rows.tolist(), new_rows.tolist()))
        con.execute("INSERT INTO documents SELECT m.new, d.doc_id, m.source, d.size, d.meta, d.text "
                    "FROM doc_map m JOIN part.documents d ON d.doc_num = m.old ORDER BY m.new")
        con.execute('INSERT INTO passages SELECT r.new, m.new, p.ordinal, p.start, p."end", p.section, p.body, p.tokens, '
                    "p.text_hash, p.page, p.ocr FROM row_map r JOIN part.passages p ON p.row = r.old "
                    "JOIN doc_map m ON m.old = p.doc_num ORDER BY r.new")
        con.commit()
        con.execute("DROP TABLE doc_map")
        con.execute("DROP TABLE row_map")
    finally:
        con.execute("DETACH DATABASE part")


def open_store(path: Path) -> sqlite3.Connection:
    """Read-only and immutable: SQLite skips locking, and the file is never written again."""
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)


def read_docs(seg_dir: Path, doc_nums: set[int] | None = None) -> tuple[list[Document], list[list[str]], list[str]]:
    """Documents with their passages, and each passage's tokens and text hash, in row order (for merges)."""
    con = open_store(seg_dir / "store.sqlite")
    try:
        docs: dict[int, Document] = {}
        for num, doc_id, source, _size, meta, text in con.execute("SELECT * FROM documents ORDER BY doc_num"):
            if doc_nums is None or num in doc_nums:
                docs[num] = Document(doc_id, source, text, DocMeta(**json.loads(meta)))
        tokens: list[list[str]] = []
        hashes: list[str] = []
        for _row, num, ordinal, start, end, section, body, toks, h, page, ocr in con.execute(
                "SELECT * FROM passages ORDER BY row"):
            d = docs.get(num)
            if d is not None:
                d.passages.append(Passage(d.doc_id, ordinal, start, end, json.loads(section), body, page, bool(ocr)))
                tokens.append(toks.split(" ") if toks else [])
                hashes.append(h)
        return list(docs.values()), tokens, hashes
    finally:
        con.close()


def verify(seg_dir: Path, entry: dict, full: bool) -> str | None:
    """None when the segment's files are as the commit recorded; else what is wrong, in a few words.

    The quick check (every open, every build) compares sizes, which catches truncation and lost
    files, and modification times: a file written since its commit is hashed, so changed bytes are
    caught too. The full check (`policyqa check`) hashes every byte whatever its time says.
    """
    for name, (size, sha, *mtime) in entry["files"].items():
        p = seg_dir / name
        try:
            st = p.stat()
        except FileNotFoundError:
            return f"{p} is missing"
        if st.st_size != size:
            return f"{p} is {st.st_size} bytes, the commit recorded {size} (truncated or overwritten)"
        if (full or not mtime or st.st_mtime_ns != mtime[0]) and layout.file_sha256(p) != sha:
            return f"{p} does not match its recorded checksum (corrupt)"
    return None
