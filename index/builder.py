"""Bring the index in line with the corpus folder, doing only the work that changed.

The index is a list of immutable segments (index/segment.py) and a commit naming them
(index/layout.py). Unchanged files (same bytes, same chunker, same model) stay where they are,
untouched; new and changed files are read (in parallel processes when there are many),
tokenized and embedded into new segments; a removed or replaced file's passages become a
tombstone: its document drops out of the commit's catalogue. Passages are embedded only when
the embedding cache lacks their text for this model. A merge folds small or mostly-tombstoned
segments into one, dropping the tombstoned rows. Nothing is live until the commit is published.

Damage is repaired, not trusted: each build checks every segment against the checksums its
commit recorded; a damaged segment's documents are read again from the folder (their vectors
come from the embedding cache), a damaged commit file means a rebuild from the documents, and
a corrupt embedding cache is set aside and started afresh, each with a note.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import multiprocessing
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from itertools import compress
from operator import itemgetter, methodcaller
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policyqa.config import Settings
from policyqa.corpus.loaders import LoadError
from policyqa.corpus.paths import shown
from policyqa.corpus.reader import FileEntry, Skipped, read_document, scan
from policyqa.corpus.types import Document, LoadOptions
from policyqa.index import embedder, encoders, layout, lexical, segment
from policyqa.index.lexical import tokenize
from policyqa.index.store import EmbeddingCache, open_cache, text_hash

SEGMENT_ROWS = 20_000  # passages a build holds in memory before writing them as a segment: bounds its memory
BIG_ROWS = 200_000  # a build folds its segments into one once they hold this many passages (README, Scale)
MERGE_BELOW = 5_000  # segments with fewer live passages are "small"
MERGE_AT = 4  # this many small segments are folded into one
MERGE_DEAD = 0.5  # a segment with this share of its rows tombstoned is rewritten
AUTO_ANN_FROM = 20_000  # --vectors auto: exact search up to this many live passages, then HNSW (README, Scale)
ANN_MIN_ROWS = 2_000  # a segment smaller than this is always searched exactly: the scan costs less than a graph
PARALLEL_FROM = 64  # files to read before it pays to start worker processes
IN_FLIGHT = 2_000  # files read ahead of the segment writer, at most


class BuildLocked(Exception):
    pass


class EmptyCorpus(Exception):
    pass


class CannotWrite(Exception):
    """A folder cannot be written: no permission, a read-only file system, or a full disk.

    The message names the folder and what to do; `full` says which (the API answers 507 or 503)."""

    def __init__(self, message: str, full: bool = False):
        super().__init__(message)
        self.full = full


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NO_PERMISSION = (errno.EACCES, errno.EPERM, errno.EROFS)


def cannot_write(e: Exception, folder: Path, other: str, outcome: str) -> CannotWrite | None:
    """`e` as a CannotWrite naming `folder` and how to use another (`other`, e.g. "pass --index DIR"), or
    None when it is no write failure there (then it is a bug and keeps its traceback). `outcome`: what stayed as it was."""
    where = getattr(e, "filename", None)
    if isinstance(where, str) and not Path(os.path.abspath(where)).is_relative_to(os.path.abspath(folder)):
        return None  # a file elsewhere (one being copied in, say): not this folder's failure
    if isinstance(e, sqlite3.OperationalError):
        text = str(e).lower()
        full = "full" in text
        if not full and "readonly" not in text and "read-only" not in text and "unable to open" not in text:
            return None
        why = "read-only"
    elif isinstance(e, OSError) and e.errno in NO_SPACE + NO_PERMISSION:
        full = e.errno in NO_SPACE
        why = (e.strerror or "permission denied").lower()
    else:
        return None
    if full:
        return CannotWrite(f"disk full while writing to {shown(str(folder))}; {outcome}; free space there and run again", full=True)
    return CannotWrite(f"cannot write to {shown(str(folder))} ({why}); {outcome}; fix its permissions or {other}")


@contextlib.contextmanager
def writing_index(index_dir: Path, outcome: str = "the index is unchanged"):
    """Turn a failed write in the index folder (permissions, read-only, full disk) into one CannotWrite
    line, and clear the partial files of the failed write so a full disk gets its space back."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as e:
        err = cannot_write(e, index_dir, "pass --index DIR", outcome)
        if err is None:
            raise
        if err.full:
            _drop_partial(index_dir)
        raise err from None


def _drop_partial(index_dir: Path) -> None:
    """Remove the temporary files a failed writer left (never referenced by a commit; the lock is held)."""
    with contextlib.suppress(OSError):
        for p in Path(index_dir).iterdir():
            if p.name.startswith((".tmp-seg-", ".tmp-gen-")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.name.startswith((".commit-", ".catalog-", ".CURRENT.")):
                p.unlink(missing_ok=True)


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the file it duplicates)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # indexed, but with parts left out (a PDF page)
    replaced: list[tuple[str, str]] = field(default_factory=list)  # `add`: (document, where its old file went)
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
        lines += [f"  replaced: {a} (the previous file is kept in {b})" for a, b in self.replaced]
        lines += [f"  duplicate: {a} has the same content as {b}; indexed once" for a, b in self.duplicates]
        lines += [f"  warning: {w}" for w in self.warnings]
        # loader reasons start with the file's path; others (links, unsupported types) get the name in front
        lines += [f"  skipped: {s.reason}" if s.reason.split(": ", 1)[0].endswith(Path(s.source).name)
                  else f"  skipped: {s.source}: {s.reason}" for s in self.skipped]
        # a newline or escape code in a file name must not break a line or the terminal
        return "\n".join(shown(line) for line in lines)


def _lock(index_dir: Path):
    from filelock import FileLock, Timeout

    with writing_index(index_dir):
        index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(index_dir / "build.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise BuildLocked(
                f"another build or update is running on {index_dir} (lock {index_dir / 'build.lock'}); wait for it to finish and retry"
            ) from None
    return lock


@contextlib.contextmanager
def index_lock(index_dir: Path):
    """Hold the index's build lock (BuildLocked at once when another writer has it). `add` and `remove`
    take it before they change the documents folder, so one that is refused leaves the folder as it was."""
    lock = _lock(Path(index_dir))
    try:
        yield
    finally:
        lock.release()


def build(settings: Settings, progress: bool = True, only: list[str] | None = None, locked: bool = False) -> BuildReport:
    """Reconcile `settings.index_dir` with `settings.corpus_dir`; the last commit stays live until the next.

    `only` (names in the folder, as `add` and `remove` know them) reconciles just those files and
    trusts the live commit for the rest, so an update's cost follows the change: at 67,000 files
    walking the folder was most of an add. Without a usable commit the whole folder is scanned.
    `locked`: the caller holds `index_lock` already."""
    index_dir = Path(settings.index_dir)
    lock = contextlib.nullcontext() if locked else index_lock(index_dir)
    with lock:
        with _collector_paused(), writing_index(index_dir):
            report = _build(settings, index_dir, progress, only)
        if settings.backend == "milvus":  # the collection follows the embedded index (index/milvus_store.py)
            from policyqa.index.milvus_store import sync

            report.notes.append(sync(settings, progress).summary(str(settings.milvus_uri)))
        return report


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off for the build, back as it was after.

    A commit's catalogue is some 600,000 objects at 67,000 documents, and the collector walked
    them again and again while a build made its few thousand new ones: half of a one-document
    add (0.6 s → 0.3 s at 100,000 passages). A build makes no reference cycles worth collecting
    before it returns, and anything it leaves is collected once the collector is back."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class _Previous:
    """The live commit as a build sees it: what it may keep, and what is damaged."""

    manifest: dict | None = None
    healthy: dict[str, dict] = field(default_factory=dict)  # segment name → commit entry
    damaged: list[str] = field(default_factory=list)
    encoder: str = "fp32"  # the resolved variant this build embeds with (index/encoders.py)


def _previous(index_dir: Path, settings: Settings, model_key: str, report: BuildReport) -> _Previous:
    prev = _Previous()
    device = embedder.resolve_device(settings.device)
    prev.encoder = encoders.resolve(settings.encoder, device)
    if layout.is_old_format(index_dir):
        report.notes.append("index of the previous format (one generation, before segments): rebuilding it as segments, "
                            "reusing the embedding cache")
        return prev
    try:
        commit = layout.require_current(index_dir)
        manifest = commit.manifest()
    except layout.IndexMissing:
        return prev
    except layout.IndexDamaged as e:
        report.notes.append(f"{e}: rebuilding from the documents and the embedding cache".replace(
            f"; rebuild with: {layout.rebuild_hint(index_dir)}", ""))
        return prev
    prev.manifest = manifest
    # auto keeps the encoder an existing index was built with (nothing re-embedded after an upgrade)
    prev.encoder = encoders.for_index(settings.encoder, manifest.get("encoder"), device)
    chunker = settings.chunking.chunker_id
    if manifest.get("chunker") != chunker:
        report.notes.append(f"chunker changed ({manifest.get('chunker')} → {chunker}): re-reading every document")
        return prev
    if manifest.get("tokenizer") != lexical.tokenizer_id():  # BM25 postings hold the old cuts
        report.notes.append(f"tokenizer or dictionary changed ({manifest.get('tokenizer', 'jieba')} → {lexical.tokenizer_id()}): "
                            "re-reading every document, reusing the embedding cache")
        return prev
    if manifest.get("ocr", True) != settings.ocr:  # pictures read (or no longer read) change what a text is
        report.notes.append(f"OCR turned {'on' if settings.ocr else 'off'}: re-reading every document")
        return prev
    if embedder.canonical(manifest.get("model", "")) != settings.model or manifest.get("model_fingerprint") != model_key:
        report.notes.append(f"model changed ({manifest.get('model')} → {settings.model}): re-embedding what the cache lacks")
        return prev
    if manifest.get("encoder", "fp32") != prev.encoder:
        report.notes.append(f"encoder changed ({manifest.get('encoder', 'fp32')} → {prev.encoder}): "
                            "re-embedding what the cache lacks")
        return prev
    for entry in manifest["segments"]:
        problem = segment.verify(index_dir / entry["name"], entry, full=False)
        if problem:
            prev.damaged.append(entry["name"])
            report.notes.append(f"segment {entry['name']} is damaged ({problem}): its documents are read again")
        else:
            prev.healthy[entry["name"]] = entry
    return prev


def _read_one(job: tuple[FileEntry, object, LoadOptions]) -> tuple[FileEntry, Document | None, list[list[str]] | None, str | None]:
    """Parse, chunk and tokenize one file (in a worker process for big builds)."""
    entry, chunking, options = job
    try:
        doc = read_document(entry, chunking, options)
    except LoadError as e:
        return entry, None, None, str(e)
    except Exception as e:  # a parser bug must not sink the whole build
        return entry, None, None, f"{entry.path}: {type(e).__name__}: {e}"
    return entry, doc, [tokenize(p.indexed_text) for p in doc.passages], None


def _read_all(to_read: list[FileEntry], settings: Settings, progress: bool):
    """Yield _read_one's results in order, using every core when there are many files."""
    workers = min(os.cpu_count() or 1, 8)
    parallel = len(to_read) >= PARALLEL_FROM and workers > 1 and "fork" in multiprocessing.get_all_start_methods()
    # a per-page OCR bar from worker processes would garble the reading bar: only in-process
    options = LoadOptions(ocr=settings.ocr, progress=progress and not parallel)
    jobs = [(e, settings.chunking, options) for e in to_read]
    bar = tqdm(total=len(jobs), desc="reading", unit="file", disable=not progress or not jobs)
    if parallel:
        # the pool reads ahead of the segment writer: bound what waits in memory (parsed documents
        # and their tokens) to IN_FLIGHT files, or a fast reader fills the build's memory
        room = threading.BoundedSemaphore(IN_FLIGHT)

        def fed():
            for job in jobs:
                room.acquire()
                yield job

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for out in pool.imap(_read_one, fed(), chunksize=8):
                room.release()
                bar.update(1)
                yield out
    else:
        for job in jobs:
            out = _read_one(job)
            bar.update(1)
            yield out
    bar.close()


def _embed(cache: EmbeddingCache, settings: Settings, texts: list[str], hashes: list[str], report: BuildReport,
           progress: bool) -> np.ndarray:
    found = cache.get(hashes)
    missing = list(dict.fromkeys(h for h in hashes if h not in found))
    text_of = dict(zip(hashes, texts))
    if settings.ray_address is not None and missing:  # embed on a Ray cluster (index/ray_embed.py)
        from policyqa.index.ray_embed import ray_encoder

        encode = ray_encoder(settings.ray_address)
    elif missing:  # settings.encoder is the resolved variant here (_build)
        encoder = encoders.load(settings.model, settings.encoder, settings.device, Path(settings.index_dir) / "encoders")

        def encode(model, texts, batch_size, device, bar=None):
            return encoder.passages(texts, batch_size, bar=bar)
    # the bar advances per batch: passages/s and the time left show from the first batch on
    bar = tqdm(total=len(missing), desc=f"embedding ({settings.encoder})", unit="passage",
               disable=not progress or not missing)
    for i in range(0, len(missing), settings.embed_chunk):
        chunk = missing[i : i + settings.embed_chunk]
        done = bar.n
        vecs = encode(settings.model, [text_of[h] for h in chunk], settings.batch_size, settings.device, bar=bar)
        cache.put(chunk, vecs)
        found.update(zip(chunk, vecs))
        bar.update(len(chunk) - (bar.n - done))  # Ray reports nothing per batch; the local encoder does
    bar.close()
    report.embedded += len(missing)
    if not hashes:
        return np.zeros((0, embedder.dimension(settings.model, settings.device)), np.float32)
    return np.vstack([found[h] for h in hashes]).astype(np.float32)


def vector_kind(mode: str, rows: int, total_live: int, current: str | None = None) -> str:
    """How a segment of `rows` passages is searched in an index of `total_live` passages.

    auto turns approximate once the index outgrows exact search, and never back (no churn around
    the threshold); an explicit mode is followed, except that small segments stay exact."""
    if mode == "auto":
        mode = "hnsw" if total_live > AUTO_ANN_FROM or (current not in (None, "flat")) else "flat"
    if mode not in ("flat", "hnsw", "ivf-sq8"):
        raise ValueError(f"unknown --vectors {mode!r}; use auto, flat, hnsw or ivf-sq8")
    return "flat" if rows < ANN_MIN_ROWS else mode


def _write_segment(index_dir: Path, seq: int, docs: list[Document], tokens: list[list[str]], sizes: dict[str, int],
                   cache: EmbeddingCache, settings: Settings, report: BuildReport, progress: bool, total_live: int,
                   kind: str | None = None) -> dict:
    texts = [p.indexed_text for d in docs for p in d.passages]
    hashes = [text_hash(t) for t in texts]
    vectors = _embed(cache, settings, texts, hashes, report, progress)
    kind = kind or vector_kind(settings.vectors, len(texts), total_live)
    return segment.write(index_dir, seq, segment.SegmentInput(docs, sizes, tokens, vectors, hashes, kind))


def _tier(rows: int) -> int:
    """Segments of about the same size share a tier (1-3 live rows, 4-15, 16-63, ...)."""
    tier = 0
    while rows >= MERGE_AT:
        rows //= MERGE_AT
        tier += 1
    return tier


def _live_rows(catalog: dict[str, dict]) -> dict[str, int]:
    """Live passages per segment holding a live document, counted in C (numpy over the catalogue's columns)."""
    if not catalog:
        return {}
    segs = list(map(itemgetter("segment"), catalog.values()))
    names = sorted(set(segs))
    pos = {n: i for i, n in enumerate(names)}
    seg = np.fromiter(map(pos.__getitem__, segs), np.int64, len(segs))
    rows = np.fromiter(map(itemgetter("passages"), catalog.values()), np.int64, len(catalog))
    return dict(zip(names, np.bincount(seg, weights=rows, minlength=len(names)).astype(int).tolist()))


def _merge_plan(segments: list[dict], live_rows: dict[str, int]) -> list[dict]:
    """Which segments to fold together: MERGE_AT small ones of the same size tier (the smallest
    such tier), plus any that is mostly tombstones (its dead rows are dropped by the rewrite).

    Tiers keep a run of one-document adds cheap: four 1-document segments make one of four,
    four of those one of sixteen, and so on, so each passage is rewritten about log4(n) times.
    Folding every small segment together each time rewrote the growing one on every fourth add
    (1.0 s at 100,000 passages)."""
    tiers: dict[int, list[dict]] = {}
    for s in segments:
        if live_rows[s["name"]] < MERGE_BELOW:
            tiers.setdefault(_tier(live_rows[s["name"]]), []).append(s)
    full = [group for _, group in sorted(tiers.items()) if len(group) >= MERGE_AT]
    dead = [s for s in segments if s["rows"] and 1 - live_rows[s["name"]] / s["rows"] >= MERGE_DEAD]
    plan = {s["name"]: s for s in (full[0] if full else [])}
    plan.update({s["name"]: s for s in dead})
    if len(plan) == 1 and not dead:
        return []
    return list(plan.values())


def _under(docs: dict[str, dict], names: set[str], corpus_dir: Path) -> list[str]:
    """The recorded sources that are one of `names` or inside one of them (a name may be a folder).

    Only a name that may be a folder (not an indexed file, not a file in the folder) costs a pass
    over the catalogue, in C (filter, methodcaller): as Python loops, passes over 670,000 entries
    were most of a one-document add."""
    folders = tuple(n + "/" for n in names if n not in docs and not (Path(corpus_dir) / n).is_file())
    inside = filter(methodcaller("startswith", folders), docs) if folders else ()
    return [n for n in names if n in docs] + list(inside)


def _scan(settings: Settings, manifest: dict | None, only: list[str] | None, trusted: bool
          ) -> tuple[list[FileEntry], list[Skipped], int, set[str] | None]:
    """(entries, skipped, scan time to record, names): the whole folder (names None), or, for an
    update that names its files and a commit that can be `trusted` for the rest, only those names
    (and the last commit's duplicates: one may stand in for a removed original); then `names`
    also holds every indexed file under a named folder."""
    docs = manifest["documents"] if manifest else {}
    targeted = (only is not None and trusted and bool(docs)
                and manifest.get("corpus_dir") == str(Path(settings.corpus_dir).resolve()))
    if targeted:
        names = set(only) | {a for a, _ in manifest.get("duplicates", [])}
        recorded = _under(docs, names, settings.corpus_dir)  # the indexed files these names are, or hold
        targeted = all("mtime_ns" in docs[src] for src in recorded)  # else written by a version that kept no times
    if not targeted:
        known, scanned_before = known_files(manifest, settings.corpus_dir)
        started = time.time_ns()  # before the walk: a file changed during it stays suspect next time
        return *scan(settings.corpus_dir, known, scanned_before), started, None
    scanned_before = int(manifest.get("scanned_at_ns", 0))
    known = {src: (docs[src]["size"], docs[src]["mtime_ns"], docs[src]["doc_id"]) for src in recorded}
    fresh, skipped = scan(settings.corpus_dir, known, scanned_before, only=sorted(names))
    skipped += [Skipped(a, r) for a, r in manifest.get("skipped", [])
                if not any(a == n or a.startswith(n + "/") for n in names)]
    skipped.sort(key=lambda x: x.source)
    # the rest of the folder was not looked at: the next full scan trusts only what the last one saw
    return fresh, skipped, scanned_before, names | set(recorded)


def _build(settings: Settings, index_dir: Path, progress: bool, only: list[str] | None = None) -> BuildReport:
    t0 = time.perf_counter()
    report = BuildReport(index_dir=str(index_dir))
    settings = replace(settings, model=embedder.canonical(settings.model))  # moka-ai/m3e-small is the default, by name
    model_key = embedder.fingerprint(settings.model, settings.device)
    index_dir.mkdir(parents=True, exist_ok=True)
    prev = _previous(index_dir, settings, model_key, report)
    settings = replace(settings, encoder=prev.encoder)
    prev_docs: dict[str, dict] = prev.manifest["documents"] if prev.manifest else {}
    trusted = prev.manifest is not None and not prev.damaged and len(prev.healthy) == len(prev.manifest["segments"])
    entries, report.skipped, scanned_at, names = _scan(settings, prev.manifest, only, trusted)

    # 1. decide per file looked at: keep where it is, read, or skip as a duplicate. An update that
    # names its files looks at those only; every other document stays as the live commit has it
    # (the same catalogue entries, never edited: the parsed commit is shared), so its cost follows
    # the change (at 670,000 documents, passes over the whole catalogue were seconds an add)
    affected = prev_docs if names is None else {src: prev_docs[src] for src in names if src in prev_docs}
    catalog: dict[str, dict] = {} if names is None else dict(prev_docs)
    for src in () if names is None else affected:
        del catalog[src]
    live = 0 if names is None else prev.manifest["passages"] - sum(d["passages"] for d in affected.values())
    # doc id → the source indexed as it, for the ids looked at (one C-level pass, not a dict of all)
    ids = {e.doc_id for e in entries}
    by_id: dict[str, str] = {catalog[src]["doc_id"]: src for src in
                             compress(catalog, map(ids.__contains__, map(itemgetter("doc_id"), catalog.values())))}
    report.unchanged = len(catalog)
    keepable = {d["doc_id"]: (src, d) for src, d in affected.items() if d["segment"] in prev.healthy}
    to_read: list[FileEntry] = []
    entries.sort(key=lambda e: (prev_docs.get(e.source, {}).get("doc_id") != e.doc_id, e.source))
    for entry in entries:
        if entry.doc_id in by_id:
            report.duplicates.append((entry.source, by_id[entry.doc_id]))
            continue
        by_id[entry.doc_id] = entry.source
        if entry.doc_id in keepable:  # same bytes already indexed (perhaps under another name): keep its rows
            catalog[entry.source] = dict(keepable[entry.doc_id][1])
            live += catalog[entry.source]["passages"]
            report.unchanged += 1
        else:
            to_read.append(entry)
    entry_sources = {e.source for e in entries}

    cache = open_cache(index_dir, encoders.cache_key(model_key, prev.encoder), report.notes)
    try:
        # 2. new and changed files → new segments, SEGMENT_ROWS passages at a time
        seq = layout.next_seq(index_dir)
        new_segments: list[dict] = []
        batch: list[Document] = []
        batch_tokens: list[list[str]] = []
        sizes = {e.doc_id: e.size for e in to_read}

        fresh: list[dict] = []  # exact-search segments of this build, to be folded into one (BIG_ROWS)
        moved: set[str] = set()  # documents a fold or merge moved to another segment

        def fold() -> None:
            """Fold `fresh` into one segment, with the ANN index the index's size asks for built once
            over all of it: a question searches one graph instead of ten (README, Scale)."""
            nonlocal seq
            if len(fresh) > 1 or fresh and vector_kind(settings.vectors, fresh[0]["rows"], live) != "flat":
                merged = _merge(index_dir, seq, list(fresh), catalog, settings, report, live, moved, note=False)
                seq += 1
                folded = {s["name"] for s in fresh}
                new_segments[:] = [s for s in new_segments if s["name"] not in folded] + [merged]
                for name in folded:  # no commit names them: gone now, not at the publish (disk for 1M passages twice)
                    shutil.rmtree(index_dir / name, ignore_errors=True)
            fresh.clear()

        def flush(last: bool) -> None:
            nonlocal seq, batch, batch_tokens, live
            if not batch:
                return
            live += len(batch_tokens)
            pending = not last or bool(fresh)  # one of several: searched exactly until folded
            entry = _write_segment(index_dir, seq, batch, batch_tokens, sizes, cache, settings, report, progress, live,
                                   "flat" if pending else None)
            seq += 1
            new_segments.append(entry)
            for num, d in enumerate(batch):
                catalog[d.source] = _catalog_entry(d, entry["name"], num)
            batch, batch_tokens = [], []
            if pending:
                fresh.append(entry)
                if sum(map(itemgetter("rows"), fresh)) >= BIG_ROWS:
                    fold()

        for entry, doc, tokens, problem in _read_all(to_read, settings, progress):
            if doc is None:
                report.skipped.append(Skipped(entry.source, problem))
                continue
            batch.append(doc)
            batch_tokens.extend(tokens)
            report.warnings += [f"{entry.source}: {w}" for w in doc.warnings]
            (report.updated if entry.source in prev_docs else report.added).append(entry.source)
            if len(batch_tokens) >= SEGMENT_ROWS:
                flush(last=False)
        flush(last=True)
        fold()

        report.removed = sorted(s for s in affected if s not in catalog and s not in entry_sources)
        if not catalog:
            raise EmptyCorpus(
                f"no readable documents in {settings.corpus_dir}"
                + (f" ({len(report.skipped)} skipped: {report.skipped[0].reason})" if report.skipped else "")
                + "; add .txt, .docx, .doc, .wps, .pdf, .ofd, .html or .md files there"
            )
        report.documents = len(catalog)
        report.passages = live
        touched = False  # a file's time moved with its bytes unchanged: the commit must record it
        for e in entries:  # what the next scan compares, to leave unchanged files unread
            d = catalog.get(e.source)
            if d is not None:  # an entry this build made or copied, never the live commit's own
                was = (d.get("size"), d.get("mtime_ns"))
                d["size"], d["mtime_ns"] = e.size, e.mtime_ns
                touched = touched or was != (e.size, e.mtime_ns)
                if d == prev_docs.get(e.source):  # the live commit's own entry: the commit's changes are
                    catalog[e.source] = prev_docs[e.source]  # found by identity (layout._changes)
        same_skips = prev.manifest is not None and prev.manifest.get("skipped") == [[x.source, x.reason] for x in report.skipped]
        renamed = prev.manifest is not None and any((s in catalog) != (s in prev_docs) for s in [*affected, *entry_sources])
        kinds_differ = any(vector_kind(settings.vectors, e["rows"], report.passages, e.get("vectors", "flat"))
                           != e.get("vectors", "flat") for e in prev.healthy.values())
        if (not report.changed and not new_segments and same_skips and not renamed and not prev.damaged and not kinds_differ
                and not touched and prev.manifest.get("duplicates") == [list(x) for x in report.duplicates]):
            report.seconds = time.perf_counter() - t0
            return report  # nothing to write: the live commit already matches the folder

        # 3. the segment list: kept segments that still hold a live document, the new ones, then a merge
        live_rows = _live_rows(catalog)  # its keys: the segments that hold a live document
        segments = [e for e in (prev.manifest or {}).get("segments", []) if e["name"] in prev.healthy and e["name"] in live_rows]
        segments += new_segments
        plan = _merge_plan(segments, live_rows)
        if plan:
            merged = _merge(index_dir, seq, plan, catalog, settings, report, report.passages, moved)
            names = {s["name"] for s in plan}
            segments = [s for s in segments if s["name"] not in names] + [merged]
            seq += 1
        # segments searched another way than the index's size (or --vectors) now asks: rewritten one by one
        for entry in list(segments):
            want = vector_kind(settings.vectors, live_rows.get(entry["name"], entry["rows"]), report.passages,
                               entry.get("vectors", "flat"))
            if want != entry.get("vectors", "flat") and entry["name"] in live_rows:
                rewritten = _merge(index_dir, seq, [entry], catalog, settings, report, report.passages, moved)
                segments[segments.index(entry)] = rewritten
                seq += 1
        _maybe_prune(cache, index_dir, segments, report.passages)
    finally:
        cache.close()

    # 4. publish
    manifest = {
        "model": settings.model,
        "model_fingerprint": model_key,
        "encoder": prev.encoder,
        "dimension": int(segments[0]["dimension"]) if segments else 0,
        "index_type": ",".join(sorted({s.get("vectors", "flat") for s in segments})),
        "chunker": settings.chunking.chunker_id,
        "tokenizer": lexical.tokenizer_id(),
        "ocr": settings.ocr,
        "built_at": layout.timestamp(),
        "corpus_dir": str(Path(settings.corpus_dir).resolve()),
        "scanned_at_ns": scanned_at,
        "passages": report.passages,
        "segments": segments,
        "documents": catalog,  # the live commit's order, new files after: sorting 670,000 names took 0.5 s an add
        "duplicates": [list(x) for x in report.duplicates],
        "skipped": [[s.source, s.reason] for s in report.skipped],
    }
    # the catalogue's changes: what this update looked at and what merges moved (a full scan: any)
    layout.publish(index_dir, manifest, seq, prev.manifest, changed=None if names is None else names | moved)
    report.seconds = time.perf_counter() - t0
    return report


def known_files(manifest: dict | None, corpus_dir: Path) -> tuple[dict[str, tuple[int, int, str]], int]:
    """What the last build's scan saw of each indexed file (size, mtime, hash) and when it began,
    for `scan` to trust; nothing when that build read another folder."""
    if not manifest or manifest.get("corpus_dir") != str(Path(corpus_dir).resolve()):
        return {}, 0
    known = {src: (d["size"], d["mtime_ns"], d["doc_id"]) for src, d in manifest["documents"].items() if "mtime_ns" in d}
    return known, int(manifest.get("scanned_at_ns", 0))


def _catalog_entry(d: Document, seg_name: str, num: int) -> dict:
    """Where a file's document lives. Its title and city are in the segment (docs.json), not here:
    the commit is rewritten on every add, and they were 30% of its 150 MB at 1M passages."""
    return {"doc_id": d.doc_id, "segment": seg_name, "doc_num": num, "passages": len(d.passages)}


def _merge(index_dir: Path, seq: int, plan: list[dict], catalog: dict[str, dict], settings: Settings,
           report: BuildReport, total_live: int, moved: set[str], note: bool = True) -> dict:
    """Fold the planned segments' live documents into one new segment; catalogue entries follow
    them (their sources are added to `moved`)."""
    names = {s["name"] for s in plan}
    kept: dict[str, list[tuple[int, str]]] = {name: [] for name in names}
    for src in compress(catalog, map(names.__contains__, map(itemgetter("segment"), catalog.values()))):
        d = catalog[src]
        kept[d["segment"]].append((d["doc_num"], src))
    parts = []
    for s in plan:
        nums_sources = sorted(kept[s["name"]])
        parts.append(segment.Part(index_dir / s["name"], np.fromiter((n for n, _ in nums_sources), np.int64,
                                                                     len(nums_sources)), [src for _, src in nums_sources]))
    rows = sum(catalog[src]["passages"] for part in parts for src in part.sources)
    kind = vector_kind(settings.vectors, rows, total_live, plan[0].get("vectors", "flat"))
    entry = segment.combine(index_dir, seq, parts, kind)
    for num, src in enumerate(src for part in parts for src in part.sources):
        catalog[src] = catalog[src] | {"segment": entry["name"], "doc_num": num}  # a new entry: the old is shared
        moved.add(src)
    if note and len(plan) > 1:
        report.notes.append(f"merged {len(plan)} segments into {entry['name']} ({entry['rows']} passages)")
    elif note:
        report.notes.append(f"rewrote {plan[0]['name']} as {entry['name']} ({entry['rows']} passages, {kind} vectors)")
    return entry


def _maybe_prune(cache: EmbeddingCache, index_dir: Path, segments: list[dict], live: int) -> None:
    """Forget cached vectors no segment uses once they outnumber the live passages by half."""
    limit = max(1000, live * 3 // 2)
    if cache.count_at_most() <= limit or cache.count() <= limit:
        return
    keep: set[str] = set()
    for s in segments:
        con = segment.open_store(index_dir / s["name"] / "store.sqlite")
        try:
            keep.update(h for (h,) in con.execute("SELECT text_hash FROM passages"))
        finally:
            con.close()
    cache.prune(keep)
