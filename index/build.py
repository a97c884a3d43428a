"""Bring the index in line with the corpus folder, doing only the work that changed.

The index is a list of immutable segments (index/store/segment.py) and a commit naming them
(index/store/layout.py). Unchanged files (same bytes, same chunker, same model) stay where they are,
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
import gc
import shutil
import time
from dataclasses import dataclass, field, replace
from itertools import compress
from operator import itemgetter
from pathlib import Path

from tqdm import tqdm

from policyqa.config import Settings
from policyqa.corpus.lifecycle import READER as LIFECYCLE_READER
from policyqa.corpus.paths import Skipped, shown
from policyqa.corpus.reader import FileEntry
from policyqa.corpus.types import Document
from policyqa.encode import embedder, encoders, models, tokenizer
from policyqa.encode.base import Encoder
from policyqa.errors import BuildLocked, EmptyCorpus, IndexDamaged, IndexMissing
from policyqa.index import backends, progress
from policyqa.index.embedding import embed_segment, maybe_prune, write_unembedded
from policyqa.index.merging import live_rows, merge, merge_plan, vector_kind
from policyqa.index.reading import read_all, scan_folder
from policyqa.index.store import layout, segment
from policyqa.index.store.cache import EmbeddingCache, open_cache
from policyqa.index.store.schema import Catalog, CatalogEntry, Manifest, SegmentEntry
from policyqa.index.usable import Target, rebuild_command
from policyqa.index.writing import writing_index

SEGMENT_ROWS = 20_000  # passages a build holds in memory before writing them as a segment: bounds its memory
BIG_ROWS = 200_000  # a build folds its segments into one once they hold this many passages (docs/scale.md)
_FRESH = "fresh"  # marks an early commit's segments this build has still to embed or fold; a resumed build carries them




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


def kept_model(settings: Settings) -> tuple[Settings, str] | None:
    """For a build whose model nobody chose: the settings with the model the live index was built with,
    and the note that says so and how to switch; None when there is no index or it has `settings.model`.

    A new index gets the default model (e5-small); an existing one keeps its own, so changing the
    default never re-embeds a corpus behind the user's back, and vectors of two models never mix."""
    from policyqa.config import DEFAULT_MODEL

    try:
        built = layout.require_current(Path(settings.index_dir)).manifest().get("model")
    except (IndexMissing, IndexDamaged):
        return None
    if not built or embedder.canonical(built) == embedder.canonical(settings.model):
        return None
    known = models.KNOWN.get(embedder.canonical(built))
    licence = f" ({known.licence_note})" if known else ""
    fix = Target(Path(settings.index_dir)).fix(model=DEFAULT_MODEL)
    note = (f"this index was built with model {built}{licence}, and keeps it; new indexes use {DEFAULT_MODEL}. "
            f"To switch (every passage is embedded again): {fix}")
    return replace(settings, model=built), note


def build(settings: Settings, progress: bool = True, only: list[str] | None = None, locked: bool = False,
          encoder: Encoder | None = None) -> BuildReport:
    """Reconcile `settings.index_dir` with `settings.corpus_dir`; the last commit stays live until the next.

    `only` (names in the folder, as `add` and `remove` know them) reconciles just those files and
    trusts the live commit for the rest, so an update's cost follows the change: at 67,000 files
    walking the folder was most of an add. Without a usable commit the whole folder is scanned.
    `locked`: the caller holds `index_lock` already. `encoder`: one to embed with instead of the model's
    (a benchmark's stand-in, say); its `fingerprint` is recorded as the model's."""
    index_dir = Path(settings.index_dir)
    with contextlib.nullcontext() if locked else index_lock(index_dir):
        with _collector_paused(), writing_index(index_dir):
            report = _build(settings, index_dir, progress, only, encoder)
            if encoder is None:
                prepare_first_question(index_dir)
        synced = backends.after_build(settings, progress)  # a Milvus collection follows the embedded index
        if synced:
            report.notes.append(synced)
        return report


def prepare_first_question(index_dir: Path) -> None:
    """Export the question engine (encode/numpy_bert.py) now, while the build holds the lock, so the
    first `ask` after a build is as fast as every later one instead of loading torch to export it."""
    manifest = layout.require_current(index_dir).manifest()
    if manifest.get("encoder", "fp32") in encoders.EXACT:
        encoders.prepare_questions(manifest["model"], index_dir / "encoders")


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

    manifest: Manifest | None = None
    healthy: dict[str, SegmentEntry] = field(default_factory=dict)  # segment name → commit entry
    damaged: list[str] = field(default_factory=list)
    encoder: str = "fp32"  # the resolved variant this build embeds with (encode/encoders.py)
    replacing: bool = False  # an index is there that this build cannot extend (another model, chunker, format...)


def _previous(index_dir: Path, settings: Settings, model_key: str, report: BuildReport, fixed: str | None = None) -> _Previous:
    """`fixed`: the variant of an encoder passed in, which this build embeds with whatever the index has."""
    prev = _Previous()
    device = embedder.resolve_device(settings.device)
    prev.encoder = fixed or encoders.resolve(settings.encoder, device)
    try:
        commit = layout.require_current(index_dir)
        manifest = commit.manifest()
    except IndexMissing:
        return prev
    except IndexDamaged as e:
        report.notes.append(f"{e}: rebuilding from the documents and the embedding cache".replace(
            f"; rebuild with: {rebuild_command(index_dir)}", ""))
        return prev
    if manifest.get("format") != layout.FORMAT:
        report.notes.append(f"index of format {manifest.get('format')} (this version writes {layout.FORMAT}): "
                            "rebuilding it from the documents, reusing the embedding cache")
        prev.replacing = True
        return prev
    prev.manifest = manifest
    # auto keeps the encoder an existing index was built with (nothing re-embedded after an upgrade)
    prev.encoder = fixed or encoders.for_index(settings.encoder, manifest.get("encoder"), device)
    chunker = settings.chunking.chunker_id
    if manifest.get("chunker") != chunker:
        report.notes.append(f"chunker changed ({manifest.get('chunker')} → {chunker}): re-reading every document")
        prev.replacing = True
        return prev
    if manifest.get("tokenizer") != tokenizer.tokenizer_id():  # BM25 postings hold the old cuts
        report.notes.append(f"tokenizer or dictionary changed ({manifest.get('tokenizer', 'jieba')} → {tokenizer.tokenizer_id()}): "
                            "re-reading every document, reusing the embedding cache")
        prev.replacing = True
        return prev
    if manifest.get("lifecycle") != LIFECYCLE_READER:  # documents' own dates (施行, 有效期, 废止) read anew
        report.notes.append(f"document lifecycles read as {LIFECYCLE_READER} (index has {manifest.get('lifecycle', 'none')}): "
                            "re-reading every document, reusing the embedding cache")
        prev.replacing = True
        return prev
    if manifest.get("ocr", True) != settings.ocr:  # pictures read (or no longer read) change what a text is
        report.notes.append(f"OCR turned {'on' if settings.ocr else 'off'}: re-reading every document")
        prev.replacing = True
        return prev
    if embedder.canonical(manifest.get("model", "")) != settings.model or manifest.get("model_fingerprint") != model_key:
        report.notes.append(f"model changed ({manifest.get('model')} → {settings.model}): re-embedding what the cache lacks")
        prev.replacing = True
        return prev
    if manifest.get("encoder", "fp32") != prev.encoder:
        report.notes.append(f"encoder changed ({manifest.get('encoder', 'fp32')} → {prev.encoder}): "
                            "re-embedding what the cache lacks")
        prev.replacing = True
        return prev
    for entry in manifest["segments"]:
        problem = segment.verify(index_dir / entry["name"], entry, full=False)
        if problem:
            prev.damaged.append(entry["name"])
            report.notes.append(f"segment {entry['name']} is damaged ({problem}): its documents are read again")
        else:
            prev.healthy[entry["name"]] = entry
    return prev


def _build(settings: Settings, index_dir: Path, progress: bool, only: list[str] | None = None,
           encoder: Encoder | None = None) -> BuildReport:
    """One build, in the steps of `_Run`: decide per file, write new segments, merge, publish."""
    run = _Run(settings, index_dir, progress, only, encoder)
    run.decide()
    cache = open_cache(index_dir, encoders.cache_key(run.model_key, run.prev.encoder), run.report.notes)
    try:
        run.write_new(cache)
        run.finish_catalog()
        if run.nothing_to_publish():
            run.report.seconds = time.perf_counter() - run.t0
            return run.report  # the live commit already matches the folder
        segments = run.segment_list()
        maybe_prune(cache, index_dir, segments, run.report.passages)
    finally:
        cache.close()
    run.publish(segments)
    run.report.seconds = time.perf_counter() - run.t0
    return run.report


class _Run:
    """The state of one build as it goes through its steps.

    A build publishes as it goes (`publish_partial`) unless it replaces an index it cannot extend:
    the documents read so far, searchable by BM25, while their vectors are embedded behind; the
    final commit (`publish`) is the one a build that never published early would write."""

    def __init__(self, settings: Settings, index_dir: Path, progress: bool, only: list[str] | None, encoder: Encoder | None = None):
        self.t0 = time.perf_counter()
        self.report = BuildReport(index_dir=str(index_dir))
        model = encoder.model if encoder else settings.model  # an encoder passed in says which model it runs
        settings = replace(settings, model=embedder.canonical(model))  # moka-ai/m3e-small is the default, by name
        self.encoder = encoder
        self.model_key = getattr(encoder, "fingerprint", None) or embedder.fingerprint(settings.model, settings.device)
        index_dir.mkdir(parents=True, exist_ok=True)
        self.prev = _previous(index_dir, settings, self.model_key, self.report, encoder.variant if encoder else None)
        self.settings = replace(settings, encoder=self.prev.encoder)
        known = models.KNOWN.get(settings.model)
        if known and not known.commercial and (self.prev.manifest or {}).get("model") != settings.model:
            self.report.notes.append(known.licence_note)  # said where it is chosen: a new index, or a switch to it
        self.index_dir, self.progress = index_dir, progress
        self.prev_docs: Catalog = self.prev.manifest["documents"] if self.prev.manifest else {}
        prev = self.prev
        trusted = prev.manifest is not None and not prev.damaged and len(prev.healthy) == len(prev.manifest["segments"])
        self.entries, self.report.skipped, self.scanned_at, self.names = scan_folder(self.settings, prev.manifest, only, trusted)
        self.new_segments: list[SegmentEntry] = []
        self.moved: set[str] = set()  # documents a fold or merge moved to another segment
        self.progressive = not self.prev.replacing
        self.carried: set[str] = set()  # segments of an interrupted build, finished by this one
        self.published: set[str] = set()  # segments some commit of this build (or the live one) names
        self.last: Manifest | None = None  # the last commit this build published early
        self.last_at, self.publish_cost = time.monotonic(), 0.0
        self.early_commits, self.early = 0, (0.0, 0)  # commits before the last; (seconds, documents) of the first

    def decide(self) -> None:
        """Per file looked at: keep where it is, read, or skip as a duplicate.

        An update that names its files looks at those only; every other document stays as the live
        commit has it (the same catalogue entries, never edited: the parsed commit is shared), so its
        cost follows the change (at 670,000 documents, passes over the whole catalogue were seconds an add)."""
        prev_docs, names, report = self.prev_docs, self.names, self.report
        self.affected = prev_docs if names is None else {src: prev_docs[src] for src in names if src in prev_docs}
        catalog: Catalog = {} if names is None else dict(prev_docs)
        for src in () if names is None else self.affected:
            del catalog[src]
        self.live = 0 if names is None else self.prev.manifest["passages"] - sum(d["passages"] for d in self.affected.values())
        # doc id → the source indexed as it, for the ids looked at (one C-level pass, not a dict of all)
        ids = {e.doc_id for e in self.entries}
        by_id: dict[str, str] = {catalog[src]["doc_id"]: src for src in
                                 compress(catalog, map(ids.__contains__, map(itemgetter("doc_id"), catalog.values())))}
        report.unchanged = len(catalog)
        keepable = {d["doc_id"]: (src, d) for src, d in self.affected.items() if d["segment"] in self.prev.healthy}
        self.to_read: list[FileEntry] = []
        self.entries.sort(key=lambda e: (prev_docs.get(e.source, {}).get("doc_id") != e.doc_id, e.source))
        for entry in self.entries:
            if entry.doc_id in by_id:
                report.duplicates.append((entry.source, by_id[entry.doc_id]))
                continue
            by_id[entry.doc_id] = entry.source
            if entry.doc_id in keepable:  # same bytes already indexed (perhaps under another name): keep its rows
                catalog[entry.source] = dict(keepable[entry.doc_id][1])
                self.live += catalog[entry.source]["passages"]
                report.unchanged += 1
            else:
                self.to_read.append(entry)
        self.catalog = catalog
        self.entry_sources = {e.source for e in self.entries}
        # files read again whose old version answers in early commits until the new one is written
        self.awaiting = {e.source for e in self.to_read if e.source in prev_docs
                         and prev_docs[e.source]["segment"] in self.prev.healthy and e.source not in catalog}
        self.file_of = {e.source: e for e in self.to_read}

    def write_new(self, cache: EmbeddingCache) -> None:
        """New and changed files → new segments (written before their vectors, published early when
        due), then their vectors, then one fold of them per BIG_ROWS passages."""
        writer = _SegmentWriter(self, cache)
        for entry, doc, tokens, problem in read_all(self.to_read, self.settings, self.progress):
            self.awaiting.discard(entry.source)
            if doc is None:
                self.report.skipped.append(Skipped(entry.source, problem))
                continue
            writer.add(doc, tokens)
            self.report.warnings += [f"{entry.source}: {w}" for w in doc.warnings]
            (self.report.updated if entry.source in self.prev_docs else self.report.added).append(entry.source)
            if writer.batch and self.due(len(writer.batch)):
                writer.flush()
                self.publish_partial(writer)
        writer.flush()
        if self.progressive and writer.unpublished and (self.last is not None or writer.to_embed >= self.settings.publishing.early_rows):
            self.publish_partial(writer)  # what was read answers by BM25 while it is embedded
        writer.embed_all()
        writer.fold(writer.fresh)
        self.seq = writer.seq
        if self.early_commits:
            self.report.notes.append(f"published {self.early_commits} commits before the last: the first, "
                                     f"{self.early[0]:.0f} s after the start, answered with {self.early[1]:,} documents")

    def due(self, docs: int) -> bool:
        """Whether an early commit is due: `publishing.every_docs` documents or `every_seconds` since the
        last, and at least twenty times what the last one cost (a commit at a million passages writes
        the catalogue anew: its cost stays a twentieth of the build's)."""
        if not self.progressive:
            return False
        pub, since = self.settings.publishing, time.monotonic() - self.last_at
        return (docs >= pub.every_docs or since >= pub.every_seconds) and since >= 20 * self.publish_cost

    def publish_partial(self, writer: _SegmentWriter) -> None:
        """Publish what is written so far: kept documents, the new ones (embedded or not), and the old
        version of each file still to be read again (an early commit never answers worse than the last)."""
        t = time.monotonic()
        catalog = dict(self.catalog)  # the copy a commit keeps: the build goes on changing its own
        waiting = [s for s in self.awaiting if s not in catalog]
        for src in waiting:
            catalog[src] = self.prev_docs[src]
        passages = self.live + sum(self.prev_docs[s]["passages"] for s in waiting)
        live = live_rows(catalog)
        segments = [e for e in self.kept_segments() if e["name"] in live]
        segments += [e | {_FRESH: True} if e in writer.fresh else e for e in self.new_segments if e["name"] in live]
        manifest = self.manifest(segments, catalog, passages)
        commit = layout.publish(self.index_dir, manifest, writer.seq, self.last or self.prev.manifest)
        writer.seq += 1
        if self.last is None:
            self.early = (time.perf_counter() - self.t0, len(catalog))
            if self.progress:
                tqdm.write(f"{len(catalog):,} documents answer now (by BM25 until their vectors come); embedding goes on")
        self.early_commits += 1
        self.last = commit.manifest()  # this process's parse of it: remembered by publish, nothing read
        self.published |= {e["name"] for e in segments}
        writer.unpublished = False
        self.last_at = time.monotonic()
        self.publish_cost = self.last_at - t

    def kept_segments(self) -> list[SegmentEntry]:
        """The live commit's segments this build keeps as they are (those of an interrupted build it finishes
        are among its own)."""
        return [e for e in (self.prev.manifest or {}).get("segments", [])
                if e["name"] in self.prev.healthy and e["name"] not in self.carried]

    def finish_catalog(self) -> None:
        """Count what is live, and record each file's size and time for the next scan to compare."""
        report, catalog = self.report, self.catalog
        report.removed = sorted(s for s in self.affected if s not in catalog and s not in self.entry_sources)
        if not catalog:
            raise EmptyCorpus(
                f"no readable documents in {self.settings.corpus_dir}"
                + (f" ({len(report.skipped)} skipped: {report.skipped[0].reason})" if report.skipped else "")
                + "; add .txt, .docx, .doc, .wps, .pdf, .ofd, .html or .md files there"
            )
        report.documents = len(catalog)
        report.passages = self.live
        self.touched = False  # a file's time moved with its bytes unchanged: the commit must record it
        for e in self.entries:  # what the next scan compares, to leave unchanged files unread
            d = catalog.get(e.source)
            if d is not None:  # an entry this build made or copied, never the live commit's own
                if (d.get("size"), d.get("mtime_ns")) != (e.size, e.mtime_ns):  # a new entry: an early commit may hold d
                    d = catalog[e.source] = d | {"size": e.size, "mtime_ns": e.mtime_ns}
                    self.touched = True
                if d == self.prev_docs.get(e.source):  # the live commit's own entry: the commit's changes are
                    catalog[e.source] = self.prev_docs[e.source]  # found by identity (layout._changes)

    def nothing_to_publish(self) -> bool:
        """Whether the live commit already says everything this build found."""
        prev, report = self.prev, self.report
        if prev.manifest is None or report.changed or self.new_segments or prev.damaged or self.touched or self.last:
            return False
        same_skips = prev.manifest.get("skipped") == [[x.source, x.reason] for x in report.skipped]
        renamed = any((s in self.catalog) != (s in self.prev_docs) for s in [*self.affected, *self.entry_sources])
        kinds_differ = any(vector_kind(self.settings.vectors, e["rows"], report.passages, e.get("vectors", "flat"))
                           != e.get("vectors", "flat") for e in prev.healthy.values())
        return same_skips and not renamed and not kinds_differ and prev.manifest.get("duplicates") == [list(x) for x in report.duplicates]

    def segment_list(self) -> list[SegmentEntry]:
        """Kept segments that still hold a live document, the new ones, then a merge and any rewrites."""
        index_dir, catalog, settings, passages = self.index_dir, self.catalog, self.settings, self.report.passages
        live = live_rows(catalog)  # its keys: the segments that hold a live document
        segments = [e for e in self.kept_segments() if e["name"] in live]
        segments += [e for e in self.new_segments if e["name"] in live]
        plan = merge_plan(segments, live)
        if plan:
            merged = merge(index_dir, self.seq, plan, catalog, settings, self.report.notes, passages, self.moved)
            names = {s["name"] for s in plan}
            segments = [s for s in segments if s["name"] not in names] + [merged]
            self.seq += 1
        # segments searched another way than the index's size (or --vectors) now asks: rewritten one by one
        for entry in list(segments):
            want = vector_kind(settings.vectors, live.get(entry["name"], entry["rows"]), passages, entry.get("vectors", "flat"))
            if want != entry.get("vectors", "flat") and entry["name"] in live:
                segments[segments.index(entry)] = merge(index_dir, self.seq, [entry], catalog, settings, self.report.notes,
                                                        passages, self.moved)
                self.seq += 1
        return segments

    def manifest(self, segments: list[SegmentEntry], catalog: Catalog, passages: int) -> Manifest:
        settings = self.settings
        embedded = [s for s in segments if segment.embedded(s)]
        return {
            "model": settings.model,
            "model_fingerprint": self.model_key,
            "encoder": self.prev.encoder,
            "dimension": int(embedded[0]["dimension"]) if embedded else 0,
            "index_type": ",".join(sorted({s.get("vectors", "flat") for s in segments})),
            "chunker": settings.chunking.chunker_id,
            "tokenizer": tokenizer.tokenizer_id(),
            "lifecycle": LIFECYCLE_READER,
            "ocr": settings.ocr,
            "built_at": layout.timestamp(),
            "corpus_dir": str(Path(settings.corpus_dir).resolve()),
            "scanned_at_ns": self.scanned_at,
            "passages": passages,
            "segments": segments,
            "documents": catalog,  # the live commit's order, new files after: sorting 670,000 names took 0.5 s an add
            "duplicates": [list(x) for x in self.report.duplicates],
            "skipped": [[s.source, s.reason] for s in self.report.skipped],
        }

    def publish(self, segments: list[SegmentEntry]) -> None:
        """The build's last commit: every segment embedded and folded, nothing marked as still to do."""
        segments = [_settled(e) for e in segments]
        manifest = self.manifest(segments, self.catalog, self.report.passages)
        # the catalogue's changes: what this update looked at and what merges moved (a full scan: any)
        changed = None if self.names is None else self.names | self.moved
        layout.publish(self.index_dir, manifest, self.seq, self.last or self.prev.manifest, changed=changed)


class _SegmentWriter:
    """Writes a build's new documents as segments of at most SEGMENT_ROWS passages, before their
    vectors; then embeds them (`embed_all`) and folds them into one per BIG_ROWS passages with the
    ANN index the index's size asks for, built once: a question searches one graph instead of ten
    (docs/scale.md). Until folded they are searched exactly, and by BM25 alone until embedded."""

    def __init__(self, run: _Run, cache: EmbeddingCache):
        self.run, self.cache = run, cache
        self.seq = layout.next_seq(run.index_dir)
        self.batch: list[Document] = []
        self.tokens: list[list[str]] = []
        self.sizes = {e.doc_id: e.size for e in run.to_read}
        self.fresh: list[SegmentEntry] = []  # this build's segments still to fold, in order
        self.to_embed = 0  # passages of `fresh` the embedding cache lacks
        self.unpublished = False  # something written since the last early commit
        self._carry()

    def _carry(self) -> None:
        """An interrupted build's segments (still to embed or fold, in its last commit) become this
        build's first: it ends as the interrupted one would have."""
        run = self.run
        live = live_rows(run.catalog)
        for e in (run.prev.manifest or {}).get("segments", []):
            if (e.get(_FRESH) or not segment.embedded(e)) and e["name"] in run.prev.healthy and e["name"] in live:
                e = _settled(e)
                self.fresh.append(e)
                run.new_segments.append(e)
                run.carried.add(e["name"])
                if not segment.embedded(e):
                    self.to_embed += len(self.cache.missing(segment.text_hashes(run.index_dir / e["name"])))
        run.published |= run.carried

    def add(self, doc: Document, tokens: list[list[str]]) -> None:
        self.batch.append(doc)
        self.tokens.extend(tokens)
        if len(self.tokens) >= SEGMENT_ROWS:
            self.flush()

    def flush(self) -> None:
        run = self.run
        if not self.batch:
            return
        run.live += len(self.tokens)
        entry, missing = write_unembedded(run.index_dir, self.seq, self.batch, self.tokens, self.sizes, self.cache,
                                          run.settings, run.report)
        self.seq += 1
        self.to_embed += missing
        run.new_segments.append(entry)
        self.fresh.append(entry)
        for num, d in enumerate(self.batch):
            f = run.file_of[d.source]  # what the next scan compares, recorded now: early commits carry it
            run.catalog[d.source] = _catalog_entry(d, entry["name"], num) | {"size": f.size, "mtime_ns": f.mtime_ns}
        self.batch, self.tokens = [], []
        self.unpublished = True

    def embed_all(self) -> None:
        """Vectors for every segment written without them, oldest first; each embedded segment is
        published when an early commit is due, and folded as soon as its group of BIG_ROWS is complete."""
        run = self.run
        todo = [e for e in self.fresh if not segment.embedded(e)]
        if not todo:
            self._fold_ready()
            return
        recorder = progress.Recorder(run.index_dir, self.to_embed)
        bar = tqdm(total=self.to_embed, desc=f"embedding ({run.settings.encoder})", unit="passage",
                   disable=not run.progress or not self.to_embed)
        try:
            for e in todo:
                self._swap([e], embed_segment(run.index_dir, e, self.cache, run.settings, run.report, run.encoder, bar,
                                              recorder.advance))
                self.unpublished = True
                self._fold_ready()
                if run.last is not None and run.due(0):
                    run.publish_partial(self)
        finally:
            bar.close()
            recorder.close()

    def _swap(self, old: list[SegmentEntry], new: SegmentEntry) -> None:
        """`new` in place of the `old` segments (one embedded, or a group folded), where the first was."""
        names = {e["name"] for e in old}
        for seq in (self.fresh, self.run.new_segments):
            at = next((i for i, e in enumerate(seq) if e["name"] in names), len(seq))
            seq[:] = [e for e in seq[:at] if e["name"] not in names] + [new] + [e for e in seq[at:] if e["name"] not in names]
        if new["name"] not in names:  # folded: no longer fresh
            self.fresh.remove(new)

    def _fold_ready(self) -> None:
        """Fold each leading run of fresh segments that holds BIG_ROWS passages, once all are embedded."""
        while True:
            total, group = 0, []
            for e in self.fresh:
                group.append(e)
                total += e["rows"]
                if total >= BIG_ROWS:
                    break
            if total < BIG_ROWS or not all(map(segment.embedded, group)):
                return
            self.fold(group)

    def fold(self, group: list[SegmentEntry]) -> None:
        """Fold `group` (embedded fresh segments) into one, or rewrite a lone one the index's size wants
        searched another way."""
        run = self.run
        group = list(group)
        if not (len(group) > 1 or group and vector_kind(run.settings.vectors, group[0]["rows"], run.live) != "flat"):
            return
        merged = merge(run.index_dir, self.seq, group, run.catalog, run.settings, None, run.live, run.moved)
        self.seq += 1
        self._swap(group, merged)
        self.unpublished = True
        for e in group:  # no commit names them: gone now, not at the publish (disk for 1M passages twice)
            if e["name"] not in run.published:
                shutil.rmtree(run.index_dir / e["name"], ignore_errors=True)


def _settled(entry: SegmentEntry) -> SegmentEntry:
    """A segment's entry without the mark an early commit gives this build's segments still to fold."""
    return {k: v for k, v in entry.items() if k != _FRESH}


def _catalog_entry(d: Document, seg_name: str, num: int) -> CatalogEntry:
    """Where a file's document lives. Its title and city are in the segment (docs.bin), not here:
    the commit is rewritten on every add, and they were 30% of its 150 MB at 1M passages."""
    return {"doc_id": d.doc_id, "segment": seg_name, "doc_num": num, "passages": len(d.passages)}
