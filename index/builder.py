"""Bring the index in line with the corpus folder, doing only the work that changed.

Unchanged files (same bytes, same chunker) are not parsed again: their passages and tokens
come from the live generation. Passages are embedded only when the embedding cache lacks
their text for this model. The result is written as a new generation and swapped in.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policyqa.config import Settings
from policyqa.corpus.loaders import LoadError
from policyqa.corpus.reader import FileEntry, Skipped, read_document, scan
from policyqa.corpus.types import Document
from policyqa.index import embedder, layout
from policyqa.index.lexical import BM25, tokenize
from policyqa.index.store import EmbeddingCache, read_documents, text_hash, write_store

# texts per encode call and per cache commit: a killed build loses at most this much work


class BuildLocked(Exception):
    pass


class EmptyCorpus(Exception):
    pass


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the file it duplicates)
    notes: list[str] = field(default_factory=list)
    documents: int = 0
    passages: int = 0
    embedded: int = 0
    seconds: float = 0.0
    index_dir: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.notes)

    def summary(self) -> str:
        lines = [
            f"index {self.index_dir}: {self.documents} documents, {self.passages} passages "
            f"({self.embedded} newly embedded) in {self.seconds:.1f}s",
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}, "
            f"unchanged {self.unchanged}, skipped {len(self.skipped)}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  + {s}" for s in self.added[:20]] + [f"  ~ {s}" for s in self.updated[:20]]
        lines += [f"  - {s}" for s in self.removed[:20]]
        lines += [f"  duplicate: {a} has the same content as {b}; indexed once" for a, b in self.duplicates]
        # loader reasons already start with the file's path; others get the source name in front
        lines += [f"  skipped: {s.reason}" if ": " in s.reason else f"  skipped: {s.source}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


def _lock(index_dir: Path):
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / "build.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BuildLocked(
            f"another build or update is running on {index_dir} (lock {index_dir / 'build.lock'}); wait for it to finish and retry"
        ) from None
    return lock


def build(settings: Settings, progress: bool = True) -> BuildReport:
    """Reconcile `settings.index_dir` with `settings.corpus_dir`; the old index stays live until the swap."""
    index_dir = Path(settings.index_dir)
    lock = _lock(index_dir)
    try:
        return _build(settings, index_dir, progress)
    finally:
        lock.release()


def _build(settings: Settings, index_dir: Path, progress: bool) -> BuildReport:
    t0 = time.perf_counter()
    report = BuildReport(index_dir=str(index_dir))
    entries, report.skipped = scan(settings.corpus_dir)
    chunker = settings.chunking.chunker_id
    model_key = embedder.fingerprint(settings.model, settings.device)

    prev = layout.current(index_dir)
    prev_manifest = prev.manifest() if prev else None
    prev_docs: dict[str, dict] = prev_manifest["documents"] if prev_manifest else {}
    reusable = bool(prev_manifest) and prev_manifest.get("chunker") == chunker and prev_manifest.get("format") == layout.FORMAT
    if prev_manifest and prev_manifest.get("chunker") != chunker:
        report.notes.append(f"chunker changed ({prev_manifest.get('chunker')} → {chunker}): re-reading every document")
    if prev_manifest and (prev_manifest.get("model") != settings.model or prev_manifest.get("model_fingerprint") != model_key):
        report.notes.append(f"model changed ({prev_manifest.get('model')} → {settings.model}): re-embedding what the cache lacks")

    # 1. decide per file: reuse, read, or skip as a duplicate
    by_id: dict[str, FileEntry] = {}
    to_read: list[FileEntry] = []
    reuse_ids: set[str] = set()
    # a file already indexed keeps its place; a new copy of it is the duplicate
    entries.sort(key=lambda e: (prev_docs.get(e.source, {}).get("doc_id") != e.doc_id, e.source))
    for entry in entries:
        if entry.doc_id in by_id:
            report.duplicates.append((entry.source, by_id[entry.doc_id].source))
            continue
        by_id[entry.doc_id] = entry
        old = prev_docs.get(entry.source)
        if reusable and old and old["doc_id"] == entry.doc_id:
            reuse_ids.add(entry.doc_id)
        elif reusable and any(d["doc_id"] == entry.doc_id for d in prev_docs.values()):
            reuse_ids.add(entry.doc_id)  # renamed or copied: same bytes, reuse under the new name
        else:
            to_read.append(entry)

    docs: list[Document] = []
    tokens_by_doc: dict[str, list[list[str]]] = {}
    if reuse_ids:
        old_docs, old_tokens = read_documents(prev.store_path, reuse_ids)
        for d in old_docs:
            d.source = by_id[d.doc_id].source
        docs.extend(old_docs)
        tokens_by_doc.update(old_tokens)
    report.unchanged = len(reuse_ids)

    for entry in tqdm(to_read, desc="reading", unit="file", disable=not progress or not to_read):
        try:
            doc = read_document(entry, settings.chunking)
        except LoadError as e:
            report.skipped.append(Skipped(entry.source, str(e)))
            continue
        except Exception as e:  # a parser bug must not sink the whole build
            report.skipped.append(Skipped(entry.source, f"{entry.path}: {type(e).__name__}: {e}"))
            continue
        docs.append(doc)
        tokens_by_doc[doc.doc_id] = [tokenize(p.indexed_text) for p in doc.passages]
        old = prev_docs.get(entry.source)
        (report.updated if old else report.added).append(entry.source)

    live_sources = {d.source for d in docs}
    report.removed = sorted(s for s in prev_docs if s not in live_sources and s not in {e.source for e in entries})
    if not docs:
        raise EmptyCorpus(
            f"no readable documents in {settings.corpus_dir}"
            + (f" ({len(report.skipped)} skipped: {report.skipped[0].reason})" if report.skipped else "")
            + "; add .txt, .docx, .pdf, .html or .md files there"
        )
    docs.sort(key=lambda d: d.source)

    # 2. vectors: cached ones reused, missing ones embedded in committed chunks
    passages = [p for d in docs for p in d.passages]
    texts = [p.indexed_text for p in passages]
    hashes = [text_hash(t) for t in texts]
    cache = EmbeddingCache(index_dir / "embeddings.sqlite", model_key)
    try:
        found = cache.get(hashes)
        missing = list(dict.fromkeys(h for h in hashes if h not in found))
        text_of = dict(zip(hashes, texts))
        bar = tqdm(total=len(missing), desc="embedding", unit="passage", disable=not progress or not missing)
        for i in range(0, len(missing), settings.embed_chunk):
            chunk = missing[i : i + settings.embed_chunk]
            vecs = embedder.encode(settings.model, [text_of[h] for h in chunk], settings.batch_size, settings.device)
            cache.put(chunk, vecs)
            found.update(zip(chunk, vecs))
            bar.update(len(chunk))
        bar.close()
        report.embedded = len(missing)
        vectors = np.vstack([found[h] for h in hashes]).astype(np.float32)
        same_skips = prev is not None and prev_manifest.get("skipped") == [[x.source, x.reason] for x in report.skipped]
        if not report.changed and same_skips and prev_manifest.get("passages") == len(passages) and not report.duplicates:
            report.documents, report.passages = len(docs), len(passages)
            report.seconds = time.perf_counter() - t0
            return report  # nothing to write: the live generation already matches the folder
        cache.prune(set(hashes))
    finally:
        cache.close()

    # 3. write a complete new generation, then swap it in
    import faiss

    gen = layout.new_generation(index_dir)
    tokens = [t for d in docs for t in tokens_by_doc[d.doc_id]]
    sizes = {e.doc_id: e.size for e in by_id.values()}
    write_store(gen.store_path, docs, sizes, tokens)
    index = faiss.index_factory(vectors.shape[1], settings.index_type, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        index.train(vectors)
    index.add(vectors)
    faiss.write_index(index, str(gen.vectors_path))
    BM25.build(tokens).save(gen.bm25_path)
    manifest = {
        "format": layout.FORMAT,
        "model": settings.model,
        "model_fingerprint": model_key,
        "dimension": int(vectors.shape[1]),
        "index_type": settings.index_type,
        "chunker": chunker,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "corpus_dir": str(Path(settings.corpus_dir).resolve()),
        "passages": len(passages),
        "documents": {
            d.source: {"doc_id": d.doc_id, "passages": len(d.passages), "title": d.meta.title, "city": d.meta.city}
            for d in docs
        },
        "duplicates": [list(x) for x in report.duplicates],
        "skipped": [[s.source, s.reason] for s in report.skipped],
    }
    gen.manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    layout.publish(index_dir, gen)
    report.documents, report.passages = len(docs), len(passages)
    report.seconds = time.perf_counter() - t0
    return report
