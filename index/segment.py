"""One immutable segment: the passages of a batch of documents, ready to query.

    seg-NNNNNN/vectors.npy     float32 rows × dim, normalized (memory-mapped by readers)
    seg-NNNNNN/doc_of.npy      int32 per row: the row's document number within the segment
    seg-NNNNNN/lengths.npy     float32 per row: BM25 document length (tokens; an empty passage counts 1)
    seg-NNNNNN/terms.json      the segment's vocabulary, term number → term
    seg-NNNNNN/term_keys.npy   uint64 per term: its 64-bit key (lexical.term_key), ascending; terms are
                               numbered in this order, so a reader finds a term by binary search over
                               a mapped array instead of holding a dict of every term (segments
                               written before it have none: their terms.json is read into a dict)
    seg-NNNNNN/post_ptr.npy    int64 per term + 1: where the term's postings start (CSR, term-major)
    seg-NNNNNN/post_row.npy    int32 per posting: the row
    seg-NNNNNN/post_tf.npy     float32 per posting: the term's frequency in the row
    seg-NNNNNN/ann.faiss       only for approximate search: a FAISS HNSW (over 8-bit codes) or IVF-SQ8
                               index of the rows; its candidates are re-scored exactly from vectors.npy
    seg-NNNNNN/docs.json       [doc_id, metadata] per document, in order: what a reader holds of each
                               document, parsed in one call (its rows in store.sqlite took 6 s at 1M
                               passages; segments written before it are read from there)
    seg-NNNNNN/store.sqlite    documents (text, metadata) and passages (body, section, tokens):
                               read for hits only, and by merges

Postings hold raw term frequencies, not scores: BM25's IDF and average length are computed at
query time from the live rows of all segments together, so they are those of the whole corpus
(index/lexical.py). A segment never changes after it is written; removing a document is a
tombstone in the commit.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from policyqa.corpus.types import DocMeta, Document, Passage
from policyqa.index import layout
from policyqa.index.lexical import term_key

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
FILES = (*NUMPY_FILES, "terms.json", "docs.json", "store.sqlite")


@dataclass
class SegmentInput:
    """What a segment is written from: documents in order, and per passage its tokens and vector."""

    docs: list[Document]
    sizes: dict[str, int]
    tokens: list[list[str]]  # aligned with the passages of `docs` in order
    vectors: np.ndarray
    hashes: list[str]
    kind: str = "flat"  # flat | hnsw | ivf-sq8


HNSW_M, HNSW_EF_CONSTRUCTION = 32, 80


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
    ascending order of their keys (lexical.term_key), and each row's length."""
    vocab: dict[str, int] = {}
    term_ids: list[int] = []
    row_ids: list[int] = []
    lengths = np.empty(len(tokens), dtype=np.float32)
    for r, toks in enumerate(tokens):
        lengths[r] = max(1, len(toks))  # bm25s indexed an empty passage as one blank token
        ids = [vocab.setdefault(t, len(vocab)) for t in toks]
        term_ids.extend(ids)
        row_ids.extend([r] * len(ids))
    n_terms = len(vocab)
    words = list(vocab)
    keys = np.fromiter((term_key(t) for t in words), dtype=np.uint64, count=n_terms)
    order = np.argsort(keys, kind="stable")
    rank = np.empty(n_terms, dtype=np.int64)
    rank[order] = np.arange(n_terms)
    terms, keys = [words[i] for i in order], keys[order]
    if not term_ids:
        return terms, keys, np.zeros(n_terms + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), lengths
    key = rank[np.asarray(term_ids, dtype=np.int64)] * max(1, len(tokens)) + np.asarray(row_ids, dtype=np.int64)
    uniq, counts = np.unique(key, return_counts=True)
    terms_of = uniq // max(1, len(tokens))
    rows = (uniq % max(1, len(tokens))).astype(np.int32)
    ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms_of, minlength=n_terms), out=ptr[1:])
    return terms, keys, ptr, rows, counts.astype(np.float32), lengths


def write(index_dir: Path, seq: int, data: SegmentInput) -> dict:
    """Write a segment folder whole and return its commit entry (name, counts, file sizes and hashes)."""
    tmp = layout.new_segment_dir(index_dir, seq)
    terms, keys, ptr, rows, tf, lengths = postings(data.tokens)
    doc_of = np.asarray([i for i, d in enumerate(data.docs) for _ in d.passages], dtype=np.int32)
    arrays = {"vectors.npy": np.ascontiguousarray(data.vectors, dtype=np.float32), "doc_of.npy": doc_of,
              "lengths.npy": lengths, "post_ptr.npy": ptr, "post_row.npy": rows, "post_tf.npy": tf,
              "term_keys.npy": keys}
    for name, arr in arrays.items():
        np.save(tmp / name, arr, allow_pickle=False)
    (tmp / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
    (tmp / "docs.json").write_bytes(orjson.dumps([[d.doc_id, d.meta.to_dict()] for d in data.docs]))
    if data.kind != "flat":
        import faiss

        faiss.write_index(ann_index(arrays["vectors.npy"], data.kind), str(tmp / "ann.faiss"))
    con = sqlite3.connect(tmp / "store.sqlite")
    try:
        con.executescript(SCHEMA)
        con.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?)",
            [(i, d.doc_id, d.source, data.sizes.get(d.doc_id, 0), json.dumps(d.meta.to_dict(), ensure_ascii=False), d.text)
             for i, d in enumerate(data.docs)],
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
    files = {name: [(tmp / name).stat().st_size, layout.file_sha256(tmp / name), (tmp / name).stat().st_mtime_ns]
             for name in FILES + (("ann.faiss",) if data.kind != "flat" else ())}
    final = layout.finish_segment(tmp)
    return {"name": final.name, "rows": int(len(doc_of)), "docs": len(data.docs), "dimension": int(data.vectors.shape[1]),
            "vectors": data.kind, "files": files}


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
