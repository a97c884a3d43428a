"""Scanning a folder: every supported file with the hash of its bytes, however many there are."""

from __future__ import annotations

import hashlib

from policyqa.corpus.reader import content_hash, scan


def test_a_big_folder_is_hashed_file_by_file(tmp_path):
    """Past a few hundred files the hashing runs in threads: each file still gets its own bytes' hash
    and size, none is lost or swapped, and an unchanged file's recorded hash is kept unread."""
    for i in range(600):
        sub = tmp_path / f"part{i % 7}"
        sub.mkdir(exist_ok=True)
        (sub / f"{i:04d}.txt").write_text(f"第{i}号文件\n" + "内容" * (i % 50), encoding="utf-8")
    (tmp_path / "notes.xyz").write_text("not a document", encoding="utf-8")
    entries, skipped = scan(tmp_path)
    assert len(entries) == 600 and [s.source for s in skipped] == ["notes.xyz"]
    for e in entries:
        data = (tmp_path / e.source).read_bytes()
        assert (e.doc_id, e.size) == (content_hash(data), len(data)) == (hashlib.sha256(data).hexdigest()[:20], len(data))
    kept = entries[5]
    known = {kept.source: (kept.size, kept.mtime_ns, "recorded-hash")}
    again, _ = scan(tmp_path, known, scanned_at_ns=kept.mtime_ns + 10**10)
    assert {e.source: e.doc_id for e in again}[kept.source] == "recorded-hash"
    assert {e.source: e.doc_id for e in again if e.source != kept.source} == \
        {e.source: e.doc_id for e in entries if e.source != kept.source}
