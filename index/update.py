"""Add and remove documents: change the documents folder, then reconcile the index with it.

The folder is the source of truth, so `build` after `add` or `remove` changes nothing, and a
removed document cannot come back by accident. Removed files are moved to `.removed/` inside
the folder (ignored by scans), never deleted: nothing is lost.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from policyqa.config import Settings
from policyqa.corpus.loaders import SUPPORTED
from policyqa.index.builder import BuildReport, build


class UpdateError(Exception):
    pass


def safe_name(name: str) -> str:
    """A file name that cannot escape the folder or trip a shell: path parts and odd characters go."""
    name = Path(name.replace("\\", "/")).name
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    stem = re.sub(r"[^\w\u4e00-\u9fff.\-（）()【】《》·]+", "_", stem).strip("._") or "document"
    return stem[:120] + suffix


def add_files(settings: Settings, paths: list[Path], progress: bool = True) -> BuildReport:
    corpus = Path(settings.corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, str]] = []
    for p in paths:
        if p.is_dir():
            files += [(f, f.relative_to(p).as_posix()) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in SUPPORTED]
        elif p.is_file():
            if p.suffix.lower() not in SUPPORTED:
                raise UpdateError(f"{p}: unsupported file type; use one of {', '.join(SUPPORTED)}")
            files.append((p, p.name))
        else:
            raise UpdateError(f"{p}: no such file or folder")
    for src, rel in files:
        dest = corpus / Path(*[safe_name(part) for part in Path(rel).parts])
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dest.resolve():
            shutil.copy2(src, dest)
    return build(settings, progress=progress)


def remove_sources(settings: Settings, sources: list[str], progress: bool = True) -> BuildReport:
    corpus = Path(settings.corpus_dir)
    missing = [s for s in sources if not (corpus / s).is_file()]
    if missing:
        raise UpdateError(f"not in {corpus}: {', '.join(missing)}; `policyqa status` lists the indexed documents")
    trash = corpus / ".removed" / time.strftime("%Y%m%dT%H%M%S")
    for s in sources:
        dest = trash / s
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(corpus / s), dest)
    return build(settings, progress=progress)
