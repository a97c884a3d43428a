"""A built index loaded into memory for querying: vectors, BM25, passages, documents.

Everything a query touches is in memory and immutable once loaded, so a server can swap in
a newer generation by replacing one reference; a query holding the old object finishes on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policyqa.corpus.sections import ChunkParams
from policyqa.corpus.types import Document, Passage
from policyqa.index import layout
from policyqa.index.embedder import canonical
from policyqa.index.lexical import BM25
from policyqa.index.store import read_documents


@dataclass
class LoadedIndex:
    generation: layout.Generation
    manifest: dict
    faiss_index: object
    bm25: BM25
    passages: list[Passage]
    docs: dict[str, Document]
    doc_of: np.ndarray  # passage row → position in doc_list
    doc_list: list[str]
    pointer_mtime: float

    @property
    def model(self) -> str:
        return self.manifest["model"]

    def doc(self, pid: int) -> Document:
        return self.docs[self.passages[pid].doc_id]

    def dense(self, query_vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids) of the k nearest passages by cosine similarity."""
        k = min(k, len(self.passages))
        scores, ids = self.faiss_index.search(query_vec.reshape(1, -1).astype(np.float32), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        return self.bm25.scores(tokens)


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


def load(index_dir: Path) -> LoadedIndex:
    import faiss

    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    mtime = pointer.stat().st_mtime if pointer.exists() else 0.0
    gen = layout.require_current(index_dir)
    manifest = gen.manifest()
    docs, _ = read_documents(gen.store_path)
    passages = [p for d in docs for p in d.passages]  # store order is FAISS order
    doc_list = [d.doc_id for d in docs]
    pos = {d: i for i, d in enumerate(doc_list)}
    return LoadedIndex(
        generation=gen,
        manifest=manifest,
        faiss_index=faiss.read_index(str(gen.vectors_path)),
        bm25=BM25.load(gen.bm25_path),
        passages=passages,
        docs={d.doc_id: d for d in docs},
        doc_of=np.array([pos[p.doc_id] for p in passages], dtype=np.int32),
        doc_list=doc_list,
        pointer_mtime=mtime,
    )


def is_stale(loaded: LoadedIndex, index_dir: Path) -> bool:
    """True when a build has published a newer generation since `loaded` was read."""
    try:
        pointer = Path(index_dir) / "CURRENT"
        if os.stat(pointer).st_mtime == loaded.pointer_mtime:
            return False
        return pointer.read_text(encoding="utf-8").strip() != loaded.generation.path.name
    except FileNotFoundError:
        return False
