"""The embedding cache: (model fingerprint, passage text hash) → vector, in SQLite.

It lives outside the segments: a build that is killed keeps every batch it finished, and the
next build embeds only what is still missing. A damaged cache is set aside and started afresh
(vectors of passages already in segments are not lost: merges copy them from the segments).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import numpy as np


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def open_cache(index_dir: Path, model_key: str, notes: list[str]) -> EmbeddingCache:
    """The embedding cache, or a fresh one when the file is not a usable SQLite database: the damaged
    file is set aside (renamed, never deleted) and `notes` says so."""
    path = Path(index_dir) / "embeddings.sqlite"
    cache = None
    try:
        cache = EmbeddingCache(path, model_key)
        cache.check()
        return cache
    except sqlite3.DatabaseError as e:
        aside = path.with_name(f"embeddings.sqlite.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        if cache is not None:
            cache.close()
        os.replace(path, aside)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        notes.append(f"embedding cache {path} was damaged ({e}); set aside as {aside.name} and rebuilt: "
                     "passages not in the index are embedded again")
        return EmbeddingCache(path, model_key)


class EmbeddingCache:
    """(model fingerprint, text hash) → vector, committed batch by batch."""

    def __init__(self, path: Path, model_key: str):
        self.path = path
        self.model_key = model_key
        self.con = sqlite3.connect(path, timeout=30)
        try:
            self.con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vec BLOB, PRIMARY KEY (model, hash))")
            self.con.commit()
        except sqlite3.DatabaseError:
            self.con.close()
            raise

    def check(self, thorough: bool = False) -> None:
        """Raise sqlite3.DatabaseError when the file is damaged: its header and schema always (cheap),
        every page when `thorough` (`policyqa check`; too slow for every build of a big cache)."""
        if thorough:
            row = self.con.execute("PRAGMA quick_check").fetchone()
            if not row or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {row[0] if row else 'no answer'}")
        self.con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        dim = self.con.execute("SELECT length(vec) FROM vectors LIMIT 1").fetchone()
        if dim and dim[0] % 4:
            raise sqlite3.DatabaseError("vectors of odd length")

    def count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def count_at_most(self) -> int:
        """An upper bound of count() read from the rowid b-tree's last entry: rows are only ever
        appended, so no more rows exist than the largest rowid. count() walks the table (1 s at a
        million vectors, on every add)."""
        return int(self.con.execute("SELECT max(rowid) FROM vectors").fetchone()[0] or 0)

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(hashes))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            q = f"SELECT hash, vec FROM vectors WHERE model=? AND hash IN ({','.join('?' * len(chunk))})"
            for h, blob in self.con.execute(q, [self.model_key, *chunk]):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def missing(self, hashes: list[str]) -> list[str]:
        """The distinct hashes not cached for this model, in first-seen order (no vector is read)."""
        wanted = list(dict.fromkeys(hashes))
        have: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            q = f"SELECT hash FROM vectors WHERE model=? AND hash IN ({','.join('?' * len(chunk))})"
            have.update(h for (h,) in self.con.execute(q, [self.model_key, *chunk]))
        return [h for h in wanted if h not in have]

    def put(self, hashes: list[str], vectors: np.ndarray) -> None:
        self.con.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?,?,?)",
            [(self.model_key, h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors)],
        )
        self.con.commit()

    def prune(self, keep: set[str]) -> int:
        """Forget vectors no current passage uses (other models' vectors included)."""
        rows = self.con.execute("SELECT model, hash FROM vectors").fetchall()
        stale = [(m, h) for m, h in rows if m != self.model_key or h not in keep]
        self.con.executemany("DELETE FROM vectors WHERE model=? AND hash=?", stale)
        self.con.commit()
        return len(stale)

    def close(self) -> None:
        self.con.close()
