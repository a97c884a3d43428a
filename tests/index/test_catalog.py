"""The document catalogue as a base file plus each commit's changes (index/store/layout.py).

Run on the tiny seeded model (fast tier): these assert what is written and read back.
"""

from __future__ import annotations

import hashlib
import os

import orjson
import pytest

from policyqa.errors import IndexDamaged
from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.index.store.loaded import load
from policyqa.index.update import remove_sources
from policyqa.qa.search import Searcher
from tests.support.seeds import FLOWERS, variant


def fresh_manifest(index_dir):
    """The live commit as a new process reads it: nothing parsed before."""
    layout._parsed.clear()
    layout._bases.clear()
    return layout.require_current(index_dir).manifest()


def raw_commit(index_dir) -> dict:
    return orjson.loads(layout.require_current(index_dir).path.read_bytes().partition(b"\n")[2])


def bases(index_dir) -> set[str]:
    return {p.name for p in index_dir.glob("catalog-*.json")}


def test_an_add_or_remove_writes_its_changes_not_the_catalogue(corpus):
    build(corpus, progress=False)
    first = raw_commit(corpus.index_dir)
    assert "documents" not in first and first["catalog"]["delta"] == {}
    base = first["catalog"]["base"]
    (corpus.corpus_dir / "v1.txt").write_text(variant(1), encoding="utf-8")
    build(corpus, progress=False)
    gone = sorted(p.name for p in corpus.corpus_dir.glob("荆州*"))[0]
    remove_sources(corpus, [gone], progress=False)
    in_process = layout.require_current(corpus.index_dir).manifest()["documents"]
    last = raw_commit(corpus.index_dir)
    assert last["catalog"]["base"] == base and bases(corpus.index_dir) == {base}  # the base was not rewritten
    assert set(last["catalog"]["delta"]) == {"v1.txt", gone} and last["catalog"]["delta"][gone] is None
    fresh = fresh_manifest(corpus.index_dir)["documents"]
    assert fresh == in_process and "v1.txt" in fresh and gone not in fresh and len(fresh) == 5
    hits = Searcher(corpus).ask(FLOWERS[1], mode="bm25", top_k=5).hits
    assert hits[0].source == "v1.txt" and gone not in {h.source for h in hits}


def test_many_changes_write_a_new_base_and_unused_bases_are_removed(corpus, monkeypatch):
    monkeypatch.setattr(layout, "DELTA_MIN", 1)
    monkeypatch.setattr(layout, "DELTA_SHARE", 0.0)
    build(corpus, progress=False)
    named = []
    for i in range(4):
        (corpus.corpus_dir / f"v{i}.txt").write_text(variant(i), encoding="utf-8")
        build(corpus, progress=False)
        named.append(raw_commit(corpus.index_dir)["catalog"])
    # one change rides on the base, a second makes a new base whole: base, +1, new base, +1
    assert [len(c["delta"]) for c in named] == [1, 0, 1, 0]
    assert named[0]["base"] != named[1]["base"] != named[3]["base"]
    # the live commit's base and the previous commit's (the last but one written): no older one
    assert bases(corpus.index_dir) == {named[1]["base"], named[3]["base"]} and named[2]["base"] == named[1]["base"]
    assert len(fresh_manifest(corpus.index_dir)["documents"]) == 9


def test_a_damaged_or_swapped_catalogue_is_reported_and_rebuilt(corpus):
    build(corpus, progress=False)
    (corpus.corpus_dir / "v1.txt").write_text(variant(1), encoding="utf-8")
    build(corpus, progress=False)
    base = corpus.index_dir / raw_commit(corpus.index_dir)["catalog"]["base"]
    # a well-formed catalogue that is not the one the commit recorded (one document dropped)
    docs = orjson.loads(base.read_bytes().partition(b"\n")[2])
    docs.pop(next(iter(docs)))
    body = orjson.dumps(docs)
    base.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    layout._parsed.clear(), layout._bases.clear()
    with pytest.raises(IndexDamaged, match=f"catalogue file {base}.*policyqa build --index"):
        load(corpus.index_dir)
    base.unlink()
    with pytest.raises(IndexDamaged, match="catalogue file .* is missing"):
        load(corpus.index_dir)
    report = build(corpus, progress=False)
    assert any("rebuilding from the documents" in n for n in report.notes) and report.embedded == 0
    assert len(fresh_manifest(corpus.index_dir)["documents"]) == 6


def test_a_commit_holding_its_catalogue_inline_is_read_and_updated(corpus):
    """Commits written before catalogue bases held every document inline: they still open, and
    the next change writes a base."""
    build(corpus, progress=False)
    m = fresh_manifest(corpus.index_dir)
    inline = {k: v for k, v in m.items() if k != "catalog"}
    seq = layout.next_seq(corpus.index_dir)
    path = corpus.index_dir / f"commit-{seq:06d}.json"
    body = orjson.dumps(inline | {"seq": seq})
    path.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    (corpus.corpus_dir / "v1.txt").unlink(missing_ok=True)
    for p in corpus.index_dir.glob("catalog-*.json"):
        p.unlink()
    (corpus.index_dir / "CURRENT").write_text(path.name, encoding="utf-8")
    assert len(fresh_manifest(corpus.index_dir)["documents"]) == 5
    assert Searcher(corpus).ask("科技特派员", top_k=3).hits
    (corpus.corpus_dir / "v1.txt").write_text(variant(1), encoding="utf-8")
    assert build(corpus, progress=False).added == ["v1.txt"]
    assert "catalog" in raw_commit(corpus.index_dir) and len(fresh_manifest(corpus.index_dir)["documents"]) == 6


def test_a_base_changed_in_place_with_its_size_and_time_kept_is_found_by_check(corpus):
    """Opening trusts a base whose size and mtime are as the commit recorded (as for segment files);
    `policyqa check` hashes it whatever they say."""
    from policyqa.index.check import check

    build(corpus, progress=False)
    base = corpus.index_dir / raw_commit(corpus.index_dir)["catalog"]["base"]
    st = base.stat()
    raw = bytearray(base.read_bytes())
    at = raw.index(b".txt")  # one letter of a file name, the length unchanged
    raw[at + 1] = ord("T")
    base.write_bytes(bytes(raw))
    os.utime(base, ns=(st.st_atime_ns, st.st_mtime_ns))
    fresh_manifest(corpus.index_dir)  # opens: size and time match, not hashed
    ok, bad = check(corpus.index_dir)
    assert len(bad) == 1 and f"catalogue {base} is damaged (checksum mismatch)" in bad[0] and "policyqa build" in bad[0]
    os.utime(base)  # a new time: opening hashes it and refuses it
    with pytest.raises(IndexDamaged, match="checksum mismatch"):
        fresh_manifest(corpus.index_dir)
