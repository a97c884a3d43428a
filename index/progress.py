"""A running build's embedding progress, for `policyqa status`, `/api/status` and the 索引状态 panel.

The commit says how many passages wait for vectors; only the build knows how fast it embeds. It
rewrites INDEX_DIR/build-progress.json (whole, renamed into place) at most once a second, and
readers believe it only while the process that wrote it is alive: a killed build's file is ignored
(its passages still wait in the commit, and the next build goes on with them).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

PROGRESS_FILE = "build-progress.json"
WRITE_EVERY = 1.0  # seconds between rewrites of the file


@dataclass
class Progress:
    pid: int
    started: float  # epoch seconds, when embedding began
    total: int  # passages this build embeds (the cache lacks their vectors)
    done: int
    updated: float  # epoch seconds of the last chunk

    @property
    def rate(self) -> float | None:
        """Passages per second so far; None before the first chunk."""
        spent = self.updated - self.started
        return self.done / spent if self.done and spent > 0 else None

    @property
    def seconds_left(self) -> float | None:
        rate = self.rate
        return max(0, self.total - self.done) / rate if rate else None


class Recorder:
    """What the build calls: `advance` after each embedded chunk; `close` when it stops embedding."""

    def __init__(self, index_dir: Path, total: int):
        self.path = Path(index_dir) / PROGRESS_FILE
        now = time.time()
        self.progress = Progress(os.getpid(), now, total, 0, now)
        self.written = 0.0
        self._write()

    def advance(self, n: int) -> None:
        self.progress.done += n
        self.progress.updated = time.time()
        if self.progress.updated - self.written >= WRITE_EVERY:
            self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(f".{PROGRESS_FILE}.{os.getpid()}")
        tmp.write_bytes(orjson.dumps(asdict(self.progress)))
        os.replace(tmp, self.path)  # a reader sees the old file or the new one, never half of one
        self.written = time.time()

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read(index_dir: Path) -> Progress | None:
    """The progress of the build embedding into `index_dir` now, or None when none is."""
    try:
        p = Progress(**orjson.loads((Path(index_dir) / PROGRESS_FILE).read_bytes()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return p if _alive(p.pid) else None
