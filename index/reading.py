"""What a build reads: which files of the folder to look at, and their documents and tokens.

An update that names its files looks at those only and trusts the live commit for the rest; a
full build walks the folder, reading only files whose size or time moved since the last scan.
Files are parsed, chunked and tokenized in worker processes when there are many.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from operator import methodcaller
from pathlib import Path

from tqdm import tqdm

from policyqa.config import Settings
from policyqa.corpus.paths import Skipped
from policyqa.corpus.reader import FileEntry, read_document, scan
from policyqa.corpus.types import Document, LoadOptions
from policyqa.encode.tokenizer import tokenize
from policyqa.errors import LoadError
from policyqa.index.store.schema import Catalog, Manifest

PARALLEL_FROM = 64  # files to read before it pays to start worker processes
IN_FLIGHT = 2_000  # files read ahead of the segment writer, at most


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


def read_all(to_read: list[FileEntry], settings: Settings, progress: bool):
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


def _under(docs: Catalog, names: set[str], corpus_dir: Path) -> list[str]:
    """The recorded sources that are one of `names` or inside one of them (a name may be a folder).

    Only a name that may be a folder (not an indexed file, not a file in the folder) costs a pass
    over the catalogue, in C (filter, methodcaller): as Python loops, passes over 670,000 entries
    were most of a one-document add."""
    folders = tuple(n + "/" for n in names if n not in docs and not (Path(corpus_dir) / n).is_file())
    inside = filter(methodcaller("startswith", folders), docs) if folders else ()
    return [n for n in names if n in docs] + list(inside)


def scan_folder(settings: Settings, manifest: Manifest | None, only: list[str] | None, trusted: bool
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


def known_files(manifest: Manifest | None, corpus_dir: Path) -> tuple[dict[str, tuple[int, int, str]], int]:
    """What the last build's scan saw of each indexed file (size, mtime, hash) and when it began,
    for `scan` to trust; nothing when that build read another folder."""
    if not manifest or manifest.get("corpus_dir") != str(Path(corpus_dir).resolve()):
        return {}, 0
    known = {src: (d["size"], d["mtime_ns"], d["doc_id"]) for src, d in manifest["documents"].items() if "mtime_ns" in d}
    return known, int(manifest.get("scanned_at_ns", 0))
