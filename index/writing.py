"""A write that fails for the folder's sake (no permission, a read-only file system, a full disk)
becomes one CannotWrite line naming the folder and what to do, and leaves nothing half-written."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
from pathlib import Path

from policyqa.corpus.paths import shown
from policyqa.errors import CannotWrite

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
            drop_partial(index_dir)
        raise err from None


def drop_partial(index_dir: Path) -> None:
    """Remove the temporary files a failed writer left (never referenced by a commit; the lock is held)."""
    with contextlib.suppress(OSError):
        for p in Path(index_dir).iterdir():
            if p.name.startswith((".tmp-seg-", ".tmp-gen-")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.name.startswith((".commit-", ".catalog-", ".CURRENT.")):
                p.unlink(missing_ok=True)
