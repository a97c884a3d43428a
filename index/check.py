"""Verify an index on demand (`policyqa check`): every file against its checksum, every store and the cache.

Readers (`ask`, `serve`, `status`) run the quick form of the same check on what they open (file
sizes, which catch truncation); this one reads every byte.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from policyqa.errors import IndexMismatch, IndexMissing
from policyqa.index.store import layout, segment
from policyqa.index.usable import rebuild_command


def check(index_dir: Path) -> tuple[list[str], list[str]]:
    """(what is fine, what is damaged), one line each; every damaged line names the fix."""
    index_dir = Path(index_dir)
    fix = rebuild_command(index_dir)
    ok: list[str] = []
    bad: list[str] = []
    try:
        commit = layout.require_current(index_dir)
        manifest = commit.manifest()
    except (IndexMissing, IndexMismatch) as e:
        return ok, [str(e)]
    ok.append(f"commit {commit.path.name}: checksum ok")
    if "catalog" in manifest:  # reading the commit hashed its catalogue base only if its size or time had changed
        problem = layout.verify_base(index_dir, manifest["catalog"])
        if problem:
            bad.append(f"catalogue {problem}; rebuild with: {fix}")
        else:
            ok.append(f"catalogue {manifest['catalog']['base']} + {len(manifest['catalog']['delta'])} changes: checksum ok")
    for entry in manifest["segments"]:
        seg_dir = index_dir / entry["name"]
        problem = segment.verify(seg_dir, entry, full=True)
        if problem is None:
            try:
                con = segment.open_store(seg_dir / "store.sqlite")
                res = con.execute("PRAGMA quick_check").fetchone()[0]
                con.close()
                if res != "ok":
                    problem = f"{seg_dir / 'store.sqlite'}: {res}"
            except sqlite3.DatabaseError as e:
                problem = f"{seg_dir / 'store.sqlite'}: {e}"
        if problem:
            bad.append(f"segment {entry['name']} is damaged: {problem}; rebuild the damaged part with: {fix}")
        else:
            ok.append(f"segment {entry['name']}: {len(entry['files'])} files, checksums ok")
    cache = index_dir / "embeddings.sqlite"
    if cache.exists():
        try:
            con = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
            res = con.execute("PRAGMA quick_check").fetchone()[0]
            con.execute("SELECT count(*) FROM vectors").fetchone()
            con.close()
            if res != "ok":
                raise sqlite3.DatabaseError(res)
            ok.append("embedding cache: ok")
        except sqlite3.DatabaseError as e:
            bad.append(f"embedding cache {cache} is damaged ({e}); set it aside and rebuild it with: {fix}")
    return ok, bad
