"""Documents and passages in one SQLite file, plus the embedding cache.

Passage rows are numbered 0..N-1 in FAISS order, so a vector's row id is its passage id.
The embedding cache lives outside the index generations: a build that is killed keeps every
batch it finished, and the next build embeds only what is still missing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np

from policyqa.corpus.types import DocMeta, Document, Passage

SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, size INTEGER, meta TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE passages (
    pid INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER, start INTEGER, "end" INTEGER,
    section TEXT NOT NULL, body TEXT NOT NULL, tokens TEXT NOT NULL, text_hash TEXT NOT NULL,
    page INTEGER, ocr INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX passages_doc ON passages(doc_id);
"""


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def write_store(path: Path, docs: list[Document], sizes: dict[str, int], tokens: list[list[str]]) -> None:
    """One transaction; `tokens` is aligned with the passages of `docs` in order."""
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        con.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?)",
            [(d.doc_id, d.source, sizes.get(d.doc_id, 0), json.dumps(d.meta.to_dict(), ensure_ascii=False), d.text) for d in docs],
        )
        rows, pid = [], 0
        for d in docs:
            for p in d.passages:
                rows.append((pid, d.doc_id, p.ordinal, p.start, p.end, json.dumps(p.section, ensure_ascii=False), p.body,
                             " ".join(tokens[pid]), text_hash(p.indexed_text), p.page, int(p.ocr)))
                pid += 1
        con.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        con.commit()
    finally:
        con.close()


def read_documents(path: Path, doc_ids: set[str] | None = None) -> tuple[list[Document], dict[str, list[list[str]]]]:
    """Documents with their passages (and stored tokens), for reuse by the next build or for loading."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        docs: dict[str, Document] = {}
        tokens: dict[str, list[list[str]]] = {}
        for doc_id, source, _size, meta, text in con.execute("SELECT * FROM documents"):
            if doc_ids is None or doc_id in doc_ids:
                docs[doc_id] = Document(doc_id, source, text, DocMeta(**json.loads(meta)))
                tokens[doc_id] = []
        # stores written before page/ocr existed lack the two columns: their passages have neither
        columns = {row[1] for row in con.execute("PRAGMA table_info(passages)")}
        extra = "page, ocr" if {"page", "ocr"} <= columns else "NULL, 0"
        query = f'SELECT doc_id, ordinal, start, "end", section, body, tokens, {extra} FROM passages ORDER BY pid'
        for doc_id, ordinal, start, end, section, body, toks, page, ocr in con.execute(query):
            if doc_id in docs:
                docs[doc_id].passages.append(Passage(doc_id, ordinal, start, end, json.loads(section), body, page, bool(ocr)))
                tokens[doc_id].append(toks.split(" ") if toks else [])
        return list(docs.values()), tokens
    finally:
        con.close()


class EmbeddingCache:
    """(model fingerprint, text hash) → vector, committed batch by batch."""

    def __init__(self, path: Path, model_key: str):
        self.path = path
        self.model_key = model_key
        self.con = sqlite3.connect(path, timeout=30)
        self.con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vec BLOB, PRIMARY KEY (model, hash))")
        self.con.commit()

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(hashes))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            q = f"SELECT hash, vec FROM vectors WHERE model=? AND hash IN ({','.join('?' * len(chunk))})"
            for h, blob in self.con.execute(q, [self.model_key, *chunk]):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, hashes: list[str], vectors: np.ndarray) -> None:
        self.con.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?,?,?)",
            [(self.model_key, h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors)],
        )
        self.con.commit()

    def prune(self, keep: set[str]) -> int:
        """Forget vectors no current passage uses (other models' vectors included)."""
        rows = self.con.execute("SELECT model, hash FROM vectors").fetchall()
        stale = [(m, h) for m, h in rows if m != self.model_key or h not in keep]
        self.con.executemany("DELETE FROM vectors WHERE model=? AND hash=?", stale)
        self.con.commit()
        return len(stale)

    def close(self) -> None:
        self.con.close()
