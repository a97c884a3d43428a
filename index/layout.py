"""Where an index lives on disk, and how a new one replaces the old atomically.

    INDEX_DIR/CURRENT            name of the live generation (replaced with os.replace)
    INDEX_DIR/gen-*/             manifest.json, store.sqlite, vectors.faiss, bm25/
    INDEX_DIR/embeddings.sqlite  embedding cache shared by builds
    INDEX_DIR/build.lock         one writer at a time

A build writes a complete new generation, fsyncs it, then swaps CURRENT. Killed at any
moment, the old CURRENT still names a complete generation. The previous generation is kept
one cycle so a reader that has just read CURRENT can still open it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1


class IndexMissing(Exception):
    pass


class IndexMismatch(Exception):
    pass


@dataclass(frozen=True)
class Generation:
    path: Path

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def store_path(self) -> Path:
        return self.path / "store.sqlite"

    @property
    def vectors_path(self) -> Path:
        return self.path / "vectors.faiss"

    @property
    def bm25_path(self) -> Path:
        return self.path / "bm25"

    def manifest(self) -> dict:
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))


def current(index_dir: Path) -> Generation | None:
    pointer = Path(index_dir) / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    gen = Generation(Path(index_dir) / name)
    return gen if gen.manifest_path.exists() else None


def require_current(index_dir: Path) -> Generation:
    gen = current(index_dir)
    if gen is None:
        raise IndexMissing(f"no index in {index_dir}; build it first with: policyqa build --index {index_dir}")
    return gen


def new_generation(index_dir: Path) -> Generation:
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 100000}"
    path = Path(index_dir) / f".tmp-{name}"
    path.mkdir()
    return Generation(path)


def _fsync_tree(path: Path) -> None:
    for p in list(path.rglob("*")) + [path]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(index_dir: Path, gen: Generation) -> Generation:
    """Make `gen` the live index in one atomic step, then drop generations older than the last."""
    index_dir = Path(index_dir)
    previous = current(index_dir)
    final = index_dir / gen.path.name.removeprefix(".tmp-")
    _fsync_tree(gen.path)
    os.replace(gen.path, final)
    tmp = index_dir / f".CURRENT.{os.getpid()}"
    tmp.write_text(final.name, encoding="utf-8")
    fd = os.open(tmp, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    os.replace(tmp, index_dir / "CURRENT")
    keep = {final.name} | ({previous.path.name} if previous else set())
    for old in index_dir.iterdir():
        if old.is_dir() and (old.name.startswith("gen-") or old.name.startswith(".tmp-gen-")) and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    return Generation(final)


def size_on_disk(index_dir: Path) -> int:
    gen = current(index_dir)
    total = sum(p.stat().st_size for p in gen.path.rglob("*") if p.is_file()) if gen else 0
    cache = Path(index_dir) / "embeddings.sqlite"
    return total + (cache.stat().st_size if cache.exists() else 0)
