"""Add and remove documents: change the documents folder, then reconcile the index with it.

The folder is the source of truth, so `build` after `add` or `remove` changes nothing (unless
files were changed behind the index's back: `add` and `remove` look only at the files they
name, so their cost follows the change, and `build` walks the whole folder), and a removed
document cannot come back by accident. Removed files are moved to `.removed/` inside
the folder (ignored by scans), never deleted: nothing is lost. Nothing outside the folder is
moved or written: every name is checked with `corpus.paths.inside` before anything changes.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from policyqa.config import Settings
from policyqa.corpus.loaders import SUPPORTED
from policyqa.corpus.paths import Skipped, fit_name, inside, shown, walk
from policyqa.corpus.reader import FileEntry, content_hash, read_document
from policyqa.encode.base import Encoder
from policyqa.errors import LoadError, OutsideFolder, UpdateError
from policyqa.index.build import BuildReport, build, index_lock
from policyqa.index.writing import cannot_write


def safe_name(name: str) -> str:
    """A file name that cannot escape the folder or trip a shell (path parts and odd characters go), and that
    every file system takes: at most 239 bytes of UTF-8. The one cleaning of a name for `add`, the UI and the API."""
    name = Path(name.replace("\\", "/")).name
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    stem = re.sub(r"[^\w\u4e00-\u9fff.\-（）()【】《》·]+", "_", stem).strip("._") or "document"
    return fit_name(stem[:120], suffix)  # and within the file system's 255 bytes, with room for " (2)"


def _make_dirs(folder: Path) -> list[Path]:
    """mkdir -p without recursion (Path.mkdir and os.makedirs recurse once per missing level); the folders made."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir(exist_ok=True)
    return missing  # deepest first


class _Undo:
    """What an add or remove changed in the documents folder, put back when it cannot finish (a folder
    that cannot be written, a full disk): the folder and the index then still agree, and nothing is lost."""

    def __init__(self):
        self.steps: list[Callable[[], object]] = []

    def made_dirs(self, folders: list[Path]) -> None:
        self.steps += [lambda f=f: f.rmdir() for f in reversed(folders)]  # run in reverse: deepest first

    def copied(self, dest: Path) -> None:
        self.steps.append(lambda: dest.unlink(missing_ok=True))

    def moved(self, path: Path, aside: Path) -> None:
        self.steps.append(lambda: os.replace(aside, path))

    def run(self) -> None:
        for step in reversed(self.steps):
            with contextlib.suppress(OSError):
                step()


@contextlib.contextmanager
def _changing(corpus: Path, undo: _Undo) -> Iterator[None]:
    """Put the folder back on any failure; a write that failed (permissions, a full disk) becomes one line."""
    try:
        yield
    except BaseException as e:
        undo.run()
        err = cannot_write(e, corpus, "pass --corpus DIR", "nothing was changed") if isinstance(e, OSError) else None
        if err is None:
            raise
        raise err from None


def _trash(corpus: Path) -> Path:
    return corpus / ".removed" / time.strftime("%Y%m%dT%H%M%S")


def _set_aside(path: Path, trash: Path, name: str, undo: _Undo | None = None) -> Path:
    """Move `path` (a link as the link) to `trash/name`, or `name (2)`… when a file set aside in
    the same second already has that name: a rename would silently replace it."""
    dest, n = trash / name, 1
    while os.path.lexists(dest):
        n += 1
        dest = trash / Path(name).with_name(f"{Path(name).stem} ({n}){Path(name).suffix}")
    made = _make_dirs(dest.parent)
    if undo is not None:
        undo.made_dirs(made)
    shutil.move(str(path), dest)
    if undo is not None:
        undo.moved(path, dest)
    return dest


def _inside(corpus: Path, given: str) -> tuple[Path, str]:
    try:
        return inside(corpus, given)
    except OutsideFolder as e:
        raise UpdateError(str(e)) from None


def _files_to_add(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[Skipped]]:
    """(file, name in the folder) for every supported file named or inside a folder named."""
    files: list[tuple[Path, str]] = []
    passed: list[Skipped] = []
    for p in paths:
        if p.is_dir():
            found, links = walk(p)  # a link out of an added folder is not followed either
            files += [(f.path, f.rel) for f in found if Path(f.rel).suffix.lower() in SUPPORTED]
            passed += [Skipped(x.source, f"{p}/{x.source}: {x.reason.replace('the documents folder', 'the folder added')}") for x in links]
        elif p.is_file():
            if p.suffix.lower() not in SUPPORTED:
                raise UpdateError(f"{shown(str(p))}: unsupported file type; use one of {', '.join(SUPPORTED)}")
            files.append((p.absolute(), p.name))
        else:
            raise UpdateError(f"{shown(str(p))}: no such file or folder")
    return files, passed


def _readable(src: Path, name: str, settings: Settings) -> str | None:
    """None when `src` would index, else the reason it would be skipped."""
    data = src.read_bytes()
    try:
        read_document(FileEntry(name, src, content_hash(data), len(data)), settings.chunking)
    except LoadError as e:
        return str(e)
    except Exception as e:  # a parser bug: the file is as unusable as a corrupt one
        return f"{src}: {type(e).__name__}: {e}"
    return None


def _copy_new(src: Path, dest: Path, undo: _Undo) -> None:
    """Copy to a name that must not exist yet and is never a link (O_EXCL | O_NOFOLLOW); a copy cut
    short (a full disk) is removed by `undo`."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    undo.copied(dest)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out)
    shutil.copystat(src, dest)


def add_files(settings: Settings, paths: list[Path], progress: bool = True, encoder: Encoder | None = None) -> BuildReport:
    """Copy files into the folder and index them; a document already there is never lost.

    Every destination is checked before anything is copied: it must stay inside the folder
    (no link in the folder leads a copy out). A new file whose name is taken replaces the
    old one only if it can be read; the old file goes to `.removed/` like a removal. If the
    new one cannot be read, the old document stays, indexed, and the summary says why.
    """
    corpus = Path(settings.corpus_dir)
    files, passed = _files_to_add(paths)
    undo = _Undo()
    with index_lock(Path(settings.index_dir)), _changing(corpus, undo):  # refused (BuildLocked): nothing is copied
        undo.made_dirs(_make_dirs(corpus))
        plan: dict[str, tuple[Path, Path]] = {}  # name in the folder → (source, destination)
        for src, rel in files:
            dest, name = _inside(corpus, "/".join(safe_name(part) for part in Path(rel).parts))
            if name in plan:
                raise UpdateError(f"{shown(str(plan[name][0]))} and {shown(str(src))} would both be {shown(name)} "
                                  f"in {corpus}; rename one and add again")
            if dest.is_dir() and not dest.is_symlink():
                raise UpdateError(f"{shown(name)}: {corpus} has a folder of that name; rename the file and add again")
            plan[name] = (src, dest)
        kept: list[Skipped] = []
        replaced: list[tuple[str, str]] = []
        trash = _trash(corpus)
        for name, (src, dest) in plan.items():
            if not os.path.lexists(dest):
                continue
            if src.resolve() == dest.resolve() or (not dest.is_symlink() and filecmp.cmp(src, dest, shallow=False)):
                continue  # already there, same bytes
            why = _readable(src, name, settings)
            if why is not None:
                kept.append(Skipped(name, f"{why}; the document already in the folder as {name} is kept"))
                continue
            aside = _set_aside(dest, trash, name, undo)
            replaced.append((name, aside.relative_to(corpus).as_posix()))
        kept_names = {k.source for k in kept}
        for name, (src, dest) in plan.items():
            if name in kept_names or os.path.lexists(dest):
                continue
            undo.made_dirs(_make_dirs(dest.parent))
            _copy_new(src, dest, undo)
        report = build(settings, progress=progress, only=list(plan), locked=True, encoder=encoder)
    report.replaced = replaced
    report.skipped += passed + kept
    return report


def remove_sources(settings: Settings, sources: list[str], progress: bool = True,
                   encoder: Encoder | None = None) -> BuildReport:
    """Move the named files to `.removed/` and update the index; names must lie inside the folder."""
    corpus = Path(settings.corpus_dir)
    targets: list[tuple[Path, str]] = []
    missing = []
    for s in sources:
        path, name = _inside(corpus, s)
        if any(part.startswith(".") for part in name.split("/")):
            raise UpdateError(f"{shown(s)}: hidden, or already removed (in .removed/); not a document of {corpus}")
        if path.is_file() or path.is_symlink():
            targets.append((path, name))
        else:
            missing.append(shown(s))
    if missing:
        raise UpdateError(f"not in {corpus}: {', '.join(missing)}; `policyqa status` lists the indexed documents")
    trash = _trash(corpus)
    undo = _Undo()
    with index_lock(Path(settings.index_dir)), _changing(corpus, undo):  # refused (BuildLocked): nothing is moved
        for path, name in targets:
            _set_aside(path, trash, name, undo)
        return build(settings, progress=progress, only=[name for _, name in targets], locked=True, encoder=encoder)
