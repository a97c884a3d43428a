"""`add` never destroys a document: a name clash keeps the old file, an unreadable new one keeps it indexed."""

from __future__ import annotations

import json

from tests.support.cli import where

NEW_TEXT = "咸宁市2021年全市科技工作要点（修订）\n一、量子通信\n建设量子通信联合实验室，引进量子密钥分发设备12套。\n"


def _seed(live):
    return next(p for p in sorted(live.corpus_dir.glob("咸宁-*.txt")))


def _sources_for(cli, live, question):
    code, out, err = cli("ask", question, "--index", live.index_dir, "--mode", "bm25", "--json", "--top-k", "10")
    assert code == 0, err
    return {r["source"] for r in json.loads(out.splitlines()[0])["results"]}


def test_a_clashing_name_replaces_and_keeps_the_old_file(live, tmp_path, cli):
    old = _seed(live)
    old_bytes = old.read_bytes()
    new = tmp_path / "upload" / old.name
    new.parent.mkdir()
    new.write_text(NEW_TEXT, encoding="utf-8")
    code, out, err = cli("add", new, *where(live), "--quiet")
    assert code == 0, err
    assert "updated 1" in out and f"replaced: {old.name} (the previous file is kept in .removed/" in out
    kept = list((live.corpus_dir / ".removed").rglob(old.name))
    assert len(kept) == 1 and kept[0].read_bytes() == old_bytes
    assert old.read_text(encoding="utf-8") == NEW_TEXT


def test_an_unreadable_new_file_leaves_the_old_document_indexed(live, tmp_path, cli):
    old = _seed(live)
    old_bytes = old.read_bytes()
    assert old.name in _sources_for(cli, live, "星创天地")
    bad = tmp_path / "upload" / old.name
    bad.parent.mkdir()
    bad.write_bytes(b"\x00\x01PK\x03\x04 binary \x00" * 50)  # a binary file renamed .txt
    code, out, err = cli("add", bad, *where(live), "--quiet")
    assert code == 0, err
    assert "removed 0" in out and "unchanged 5" in out
    line = next(x for x in out.splitlines() if x.startswith("  skipped:"))
    assert "looks like a binary file" in line and f"the document already in the folder as {old.name} is kept" in line
    assert old.read_bytes() == old_bytes and not (live.corpus_dir / ".removed").exists()
    assert old.name in _sources_for(cli, live, "星创天地")  # still searchable


def test_a_file_set_aside_earlier_in_the_same_second_is_not_overwritten(live, cli):
    """`.removed/<second>/NAME` may exist already (two removals in one second): the second one must not replace it."""
    import time

    old = _seed(live)
    now = time.time()
    earlier = [live.corpus_dir / ".removed" / time.strftime("%Y%m%dT%H%M%S", time.localtime(now + d)) / old.name
               for d in range(-1, 30)]
    for f in earlier:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("早先移走的版本", encoding="utf-8")
    code, out, err = cli("remove", old.name, *where(live), "--quiet")
    assert code == 0, err
    assert f"  - {old.name}" in out.splitlines()
    assert all(f.read_text(encoding="utf-8") == "早先移走的版本" for f in earlier)
    assert len(list((live.corpus_dir / ".removed").rglob(f"{old.stem} (2).txt"))) == 1
