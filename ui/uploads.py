"""Uploaded files into the documents folder and the index: shared by the web UI and the HTTP API.

The checks a browser upload needs beyond `policyqa add` (a size limit, an expired temporary
file) come first; then `add_files` does what the CLI does, with its own validation. A file
that could not be read is taken out of the folder again when this upload put it there, so it
is not skipped anew at every build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from policyqa.config import Settings
from policyqa.corpus.loaders import SUPPORTED
from policyqa.index.build import BuildReport
from policyqa.index.update import add_files, safe_name

MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024


@dataclass
class UploadOutcome:
    report: BuildReport | None  # None: nothing was fit to add
    names: list[str] = field(default_factory=list)  # names in the documents folder of the files added
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, Chinese reason)
    removed: list[str] = field(default_factory=list)  # unreadable files this upload put in, taken out again


def too_large(size: int | None, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """The reason for a file over the limit (size None: not read to the end, so unknown)."""
    got = f"{size / 1024 / 1024:.1f} MB" if size is not None else f"超过 {max_bytes // 1024 // 1024} MB"
    return f"文件过大（{got}），单个文件上限 {max_bytes // 1024 // 1024} MB"


def check_uploads(paths: list[Path], max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files fit to add, and (name, Chinese reason) for the rest."""
    ok, rejected = [], []
    for p in paths:
        if p.suffix.lower() not in SUPPORTED:
            rejected.append((p.name, f"不支持的文件类型 {p.suffix or '（无扩展名）'}，支持：{'、'.join(SUPPORTED)}"))
        elif not p.is_file():
            rejected.append((p.name, "上传的文件不存在（可能已过期），请重新上传"))
        elif p.stat().st_size > max_bytes:
            rejected.append((p.name, too_large(p.stat().st_size, max_bytes)))
        elif p.stat().st_size == 0:
            rejected.append((p.name, "文件为空"))
        else:
            ok.append(p)
    return ok, rejected


def add_uploads(settings: Settings, paths: list[Path], max_bytes: int = MAX_UPLOAD_BYTES) -> UploadOutcome:
    """Check, copy in and index `paths`; raises what `add_files` raises (BuildLocked, UpdateError …)."""
    ok, rejected = check_uploads(paths, max_bytes)
    out = UploadOutcome(report=None, names=[safe_name(p.name) for p in ok], rejected=rejected)
    if not ok:
        return out
    corpus = Path(settings.corpus_dir)
    existed = {n for n in out.names if (corpus / n).exists()}
    out.report = add_files(settings, ok, progress=False)
    bad = {s.source for s in out.report.skipped}
    for n in out.names:
        if n in bad and n not in existed:
            (corpus / n).unlink(missing_ok=True)
            out.removed.append(n)
    return out
