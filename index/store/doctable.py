"""A segment's documents as columns: what a reader holds of each document without parsing it.

    seg-NNNNNN/docs.bin   [doc_id, metadata] per document as JSON, one after another: parsed per
                          document when a hit, a filter's distinct value or a lifecycle asks for it
    seg-NNNNNN/docs.npz   per document: `ids` (its doc_id), `ptr` (where its JSON starts in docs.bin,
                          one more at the end); for each filter key (KEYS) `codes_KEY` (the number of
                          its value) and `reps_KEY` (one document per value); and the lifecycle's keys:
                          `title_key` (bm25.term_key of corpus.lifecycle.plain_title), `number_key`
                          (year × 10⁹ + number of its 文号, -1 for none), `refers` (its lifecycle names
                          other documents); `sorted_ids`/`sorted_pos` find a doc_id by binary search

Why columns: opening a million-passage index parsed 670,000 metadata objects (seconds), and a
question reads the metadata of a few dozen documents. Filters compare one metadata object per
distinct value, lifecycles read the documents that name others, and both find the rest by
numpy over these columns.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from policyqa.corpus.lifecycle import number_key, plain_title
from policyqa.corpus.types import DocMeta
from policyqa.index.bm25 import term_key

FILES = ("docs.bin", "docs.npz")
# what a filter compares, per document: metadata fields grouped so a predicate runs once per value
KEYS: dict[str, Callable[[dict], object]] = {
    "place": lambda m: (m["city"], m["prefecture"], m["province"]),
    "year": lambda m: (m["year"], tuple(m["years"] or ())),
    "type": lambda m: m["doc_type"],
    "city": lambda m: m["city"],
}
NO_NUMBER = -1


def number_value(year: int, number: int) -> int:
    """A 文号's (year, number) as the one integer `number_key` holds; the issuer prefix is compared after,
    on the few documents it finds."""
    return year * 10**9 + number


def title_value(title: str) -> np.uint64:
    """What `title_key` holds for a plain title (corpus.lifecycle.plain_title)."""
    return np.uint64(term_key(title))


def number_column(doc_number: str | None) -> int:
    """What `number_key` holds for a document's 文号: number_value, or NO_NUMBER."""
    key = number_key(doc_number) if doc_number else None
    return number_value(*key[1:]) if key else NO_NUMBER


def write(folder: Path, rows: list) -> None:
    """docs.bin and docs.npz for `rows`, [doc_id, metadata dict] per document in segment order."""
    blobs = [orjson.dumps(r) for r in rows]
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in blobs], out=ptr[1:])
    (folder / "docs.bin").write_bytes(b"".join(blobs))
    ids = np.array([r[0].encode() for r in rows], dtype=f"S{max((len(r[0]) for r in rows), default=1)}")
    cols = {"ids": ids, "ptr": ptr}
    for name, fn in KEYS.items():
        seen: dict = {}
        codes = np.fromiter((seen.setdefault(fn(m), len(seen)) for _, m in rows), np.int32, len(rows))
        reps = np.unique(codes, return_index=True)[1].astype(np.int32)  # the first document of each value, by code
        cols[f"codes_{name}"], cols[f"reps_{name}"] = codes, reps
    metas = [m for _, m in rows]
    cols["title_key"] = np.fromiter((title_value(plain_title(m["title"])) for m in metas), np.uint64, len(rows))
    cols["number_key"] = np.fromiter((number_column(m["doc_number"]) for m in metas), np.int64, len(rows))
    cols["refers"] = np.fromiter((bool(m["lifecycle"] and m["lifecycle"].get("references")) for m in metas), bool, len(rows))
    order = np.argsort(ids, kind="stable")
    cols["sorted_ids"], cols["sorted_pos"] = ids[order], order.astype(np.int32)
    with open(folder / "docs.npz", "wb") as f:
        np.savez(f, **cols)


@dataclass
class DocTable:
    """One segment's documents: columns in memory, metadata parsed per document when asked for."""

    blob: bytes | mmap.mmap
    cols: dict[str, np.ndarray]
    _groups: dict = field(default_factory=dict)  # KEYS name → (codes, metadata per value), made at the first filter

    def __len__(self) -> int:
        return len(self.cols["ptr"]) - 1

    def row(self, i: int) -> list:
        """[doc_id, metadata dict] of document number i."""
        ptr = self.cols["ptr"]
        return orjson.loads(self.blob[int(ptr[i]) : int(ptr[i + 1])])

    def rows(self) -> list:
        """Every document's [doc_id, metadata dict], in one parse (merges)."""
        p = self.cols["ptr"].tolist()
        return orjson.loads(b"[" + b",".join(self.blob[a:b] for a, b in zip(p, p[1:])) + b"]")

    def meta(self, i: int) -> DocMeta:
        return DocMeta(**self.row(i)[1])

    def doc_id(self, i: int) -> str:
        return self.cols["ids"][i].decode()

    def find(self, doc_id: str) -> list[int]:
        """Document numbers holding `doc_id` (more than one only in a segment a build has not folded)."""
        raw, s = doc_id.encode(), self.cols["sorted_ids"]
        if len(raw) > s.dtype.itemsize:
            return []
        key = np.array(raw, dtype=s.dtype)
        lo, hi = np.searchsorted(s, key, "left"), np.searchsorted(s, key, "right")
        return sorted(self.cols["sorted_pos"][lo:hi].tolist())

    def groups(self, key: str) -> tuple[np.ndarray, list[DocMeta]]:
        """(per document the number of its KEYS[key] value, one document's metadata per value)."""
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = (self.cols[f"codes_{key}"], [self.meta(r) for r in self.cols[f"reps_{key}"].tolist()])
        return found

    def nbytes(self) -> int:
        """Bytes held in memory (docs.bin is mapped: the OS pages in what is read)."""
        return sum(int(a.nbytes) for a in self.cols.values())


def read(folder: Path) -> DocTable:
    """A segment's document table, docs.bin mapped: a hit's slice is parsed, not the file."""
    with np.load(folder / "docs.npz", allow_pickle=False) as z:
        cols = {k: z[k] for k in z.files}
    with open(folder / "docs.bin", "rb") as f:
        blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if cols["ptr"][-1] else b""
    return DocTable(blob, cols)
