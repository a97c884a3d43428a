"""Segments: tombstones, corpus-wide BM25 statistics, crash safety of writes and merges, the old format.

Run on the tiny seeded model (fast tier): these assert what is stored and returned, not ranking quality.
"""

from __future__ import annotations

import copy
import hashlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from policyqa.cli import main as cli
from policyqa.encode.tokenizer import tokenize
from policyqa.errors import IndexMismatch
from policyqa.index import build as builder
from policyqa.index import merging, reading
from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.index.store.loaded import load
from policyqa.index.update import remove_sources
from policyqa.qa.search import Filters, Searcher
from tests.support.seeds import FLOWERS, variant

QUESTIONS = ["哪些城市设立了科技特派员工作站", "科技特派员", "高新技术企业", "星创天地", "科技创新", "专利", "测试汇编"]


def _live_key(idx, pid):
    d = idx.doc(pid)
    return d.source, idx.passages[pid].ordinal


def test_add_writes_a_new_segment_and_leaves_the_others_untouched(corpus):
    build(corpus, progress=False)
    before = layout.current(corpus.index_dir).manifest()["segments"]
    (corpus.corpus_dir / "v1.txt").write_text(variant(1), encoding="utf-8")
    report = build(corpus, progress=False)
    after = layout.current(corpus.index_dir).manifest()["segments"]
    assert report.added == ["v1.txt"] and report.unchanged == 5
    assert after[: len(before)] == before  # the old segment, byte for byte the same files
    assert len(after) == len(before) + 1 and after[-1]["docs"] == 1


@pytest.mark.parametrize(("mode", "vectors"), [("hybrid", "flat"), ("dense", "flat"), ("bm25", "flat"),
                                               ("hybrid", "hnsw"), ("dense", "hnsw"), ("dense", "ivf-sq8")])
def test_tombstoned_passages_are_never_returned(corpus, mode, vectors, monkeypatch):
    monkeypatch.setattr(merging, "MERGE_AT", 100)  # keep the tombstones in place: no merge rewrites them
    monkeypatch.setattr(merging, "ANN_MIN_ROWS", 1)  # every segment gets the approximate index asked for
    corpus = corpus.with_(vectors=vectors)
    build(corpus, progress=False)
    for i in range(3):
        (corpus.corpus_dir / f"v{i}.txt").write_text(variant(i), encoding="utf-8")
        build(corpus, progress=False)
    searcher = Searcher(corpus)
    gone = [sorted(p.name for p in corpus.corpus_dir.glob("荆州*"))[0], "v1.txt"]
    assert any(h.source in gone for q in QUESTIONS for h in searcher.ask(q, mode=mode, top_k=50).hits)
    remove_sources(corpus, gone, progress=False)
    idx = searcher.index
    assert (~idx.live).sum() > 0  # the removed passages are still in their segments, as tombstones
    assert {s.kind for s in idx.segments} == {vectors}
    for q in QUESTIONS:
        for f in (None, Filters(city="荆州"), Filters(year=2022)):
            answer = searcher.ask(q, mode=mode, top_k=50, filters=f)
            assert not [h.source for h in answer.hits if h.source in gone], (q, f)
            assert "第1号测试汇编" not in "".join(h.text for h in answer.hits)


def test_bm25_after_adds_removes_and_merges_equals_a_fresh_build(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(merging, "MERGE_AT", 3)
    build(corpus, progress=False)
    folder = corpus.corpus_dir
    steps = [("add", 0), ("add", 1), ("remove", "v0.txt"), ("add", 2), ("add", 3), ("replace", "v2.txt"),
             ("remove", sorted(p.name for p in folder.glob("岳阳*"))[0]), ("add", 4)]
    notes = []
    for op, arg in steps:
        if op == "add":
            (folder / f"v{arg}.txt").write_text(variant(arg), encoding="utf-8")
        elif op == "remove":
            (folder / arg).unlink()
        else:
            (folder / arg).write_text(variant(7) + "\n新增一段：科技特派员工作站建设情况。", encoding="utf-8")
        notes += build(corpus, progress=False).notes
    assert any("merged" in n for n in notes)  # a merge ran somewhere in the sequence
    sizes = {}  # every live document's size as its segment's store records it, merged ones included
    for entry in layout.current(corpus.index_dir).manifest()["segments"]:
        con = sqlite3.connect(corpus.index_dir / entry["name"] / "store.sqlite")
        sizes.update(con.execute("SELECT source, size FROM documents").fetchall())
        con.close()
    assert all(sizes[p.name] == p.stat().st_size for p in folder.glob("*.txt")), sizes
    fresh = corpus.with_(index_dir=tmp_path / "fresh")
    build(fresh, progress=False)
    a, b = load(corpus.index_dir), load(fresh.index_dir)
    assert a.bm25.n == b.bm25.n and abs(a.bm25.avgdl - b.bm25.avgdl) < 1e-9
    pos_b = {_live_key(b, int(p)): int(p) for p in np.flatnonzero(b.live)}
    live_a = [int(p) for p in np.flatnonzero(a.live)]
    assert sorted(_live_key(a, p) for p in live_a) == sorted(pos_b)
    for q in QUESTIONS + ["工作 要点 科技 科技"]:
        from policyqa.encode.tokenizer import tokenize

        tokens = tokenize(q)
        ia, ib = a.bm25.idf(tokens), b.bm25.idf(tokens)
        assert all(abs(ia[t] - ib[t]) < 1e-9 for t in tokens)
        sa, sb = a.bm25_scores(tokens), b.bm25_scores(tokens)
        diff = max(abs(float(sa[p]) - float(sb[pos_b[_live_key(a, p)]])) for p in live_a)
        assert diff < 1e-5, q
        assert not sa[~a.live].any()  # tombstoned rows score nothing


KILLER = """
import sys, time
from pathlib import Path
from policyqa.config import Settings
from policyqa.index import build as builder
from policyqa.index import merging, reading
from policyqa.index.store import layout
from policyqa.index.build import build

stage, corpus, index, model = sys.argv[1:5]
merging.MERGE_AT = 2
calls = []
finish, publish = layout.finish_segment, layout.publish

def slow_finish(tmp):
    calls.append(tmp)
    if stage == "segment" or (stage == "merge" and len(calls) == 2):
        print("PAUSED", flush=True)
        time.sleep(120)
    return finish(tmp)

def slow_publish(*a, **k):
    if stage == "commit":
        print("PAUSED", flush=True)
        time.sleep(120)
    return publish(*a, **k)

layout.finish_segment, layout.publish = slow_finish, slow_publish
build(Settings().with_(corpus_dir=Path(corpus), index_dir=Path(index), model=model, device="cpu"), progress=False)
"""


@pytest.mark.slow  # subprocesses killed at each stage
@pytest.mark.parametrize("stage", ["segment", "merge", "commit"])
def test_kill_9_while_writing_a_segment_merging_or_committing(corpus, stage):
    """SIGKILL with a segment half-published, a merge's output written, or the commit about to be
    swapped: the last commit stays live and answers, and the next build finishes the job."""
    build(corpus, progress=False)
    (corpus.corpus_dir / "v1.txt").write_text(variant(1), encoding="utf-8")
    build(corpus, progress=False)  # two segments now: the next add makes a third, and a merge (MERGE_AT 2)
    before = layout.current(corpus.index_dir).path
    (corpus.corpus_dir / "v2.txt").write_text(variant(2), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", KILLER, stage, str(corpus.corpus_dir), str(corpus.index_dir),
                             corpus.model], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "PAUSED"
        if stage != "commit":
            assert list(corpus.index_dir.glob(".tmp-seg-*"))  # a segment written, not yet in place
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert layout.current(corpus.index_dir).path == before
    answer = Searcher(corpus).ask("科技特派员", top_k=3)
    assert answer.hits and not [h for h in answer.hits if h.source == "v2.txt"]
    report = build(corpus, progress=False)
    assert report.added == ["v2.txt"]
    assert not list(corpus.index_dir.glob(".tmp-seg-*"))  # the killed writer's leftovers are gone
    hits = Searcher(corpus).ask(FLOWERS[2], mode="bm25", top_k=5).hits
    assert hits and hits[0].source == "v2.txt"


def test_a_searcher_answers_while_builds_merge(corpus, monkeypatch):
    monkeypatch.setattr(merging, "MERGE_AT", 2)
    build(corpus, progress=False)
    searcher = Searcher(corpus)
    errors: list[BaseException] = []
    answered = []
    stop = threading.Event()

    def ask_loop():
        while not stop.is_set():
            try:
                answer = searcher.ask("科技特派员", top_k=5)
                assert answer.hits
                answered.append(len(answer.hits))
            except BaseException as e:  # noqa: BLE001 - collected and re-raised in the test thread
                errors.append(e)
                return

    t = threading.Thread(target=ask_loop)
    t.start()
    notes = []
    try:
        for i in range(4):
            (corpus.corpus_dir / f"v{i}.txt").write_text(variant(i), encoding="utf-8")
            notes += build(corpus, progress=False).notes
            time.sleep(0.05)
    finally:
        stop.set()
        t.join()
    assert not errors, errors[0]
    assert any("merged" in n for n in notes) and len(answered) > 4
    assert searcher.ask(FLOWERS[3], mode="bm25", top_k=1).hits[0].source == "v3.txt"


def test_index_of_an_older_format_is_refused_and_rebuilt(corpus, capsys):
    """A commit written by an older version (format 2 here, before the pre-release fallbacks went) is
    refused in one line naming the build that fixes it; that build reads the documents again and
    reuses the embedding cache."""
    build(corpus, progress=False)
    index = corpus.index_dir
    manifest = copy.deepcopy(layout.current(index).manifest())  # the parsed commit is shared: not edited
    old = {k: v for k, v in manifest.items() if k not in ("catalog", "format", "seq")} | {"format": layout.FORMAT - 1}
    layout.publish(index, old, layout.next_seq(index))
    commit = layout.current(index).path
    raw = commit.read_bytes().split(b"\n", 1)[1].replace(f'"format":{layout.FORMAT}'.encode(), f'"format":{layout.FORMAT - 1}'.encode())
    commit.write_bytes(hashlib.sha256(raw).hexdigest().encode() + b"\n" + raw)
    refused = f"format {layout.FORMAT - 1}, this version reads {layout.FORMAT}.*policyqa build --index {index}"
    with pytest.raises(IndexMismatch, match=refused):
        Searcher(corpus)
    assert cli(["ask", "科技", "--index", str(index), "--model", corpus.model]) == 2
    assert "policyqa build --index" in capsys.readouterr().err
    report = build(corpus, progress=False)
    assert any(f"index of format {layout.FORMAT - 1}" in n for n in report.notes)
    assert report.embedded == 0  # the embedding cache was kept and reused
    assert Searcher(corpus).ask("科技特派员", top_k=1).hits


def test_a_new_commit_opens_only_the_new_segments(corpus):
    build(corpus, progress=False)
    searcher = Searcher(corpus)
    before = searcher.index
    (corpus.corpus_dir / "v1.txt").write_text(variant(1), encoding="utf-8")
    build(corpus, progress=False)
    after = searcher.index  # reloaded on the next use
    assert after is not before and len(after.segments) == len(before.segments) + 1
    assert all(a is b for a, b in zip(after.segments, before.segments))  # the same open objects, not reopened
    assert searcher.ask(FLOWERS[1], mode="bm25", top_k=1).hits[0].source == "v1.txt"


def test_reading_in_worker_processes_gives_the_same_index(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "PARALLEL_FROM", 10**9)
    build(corpus, progress=False)
    monkeypatch.setattr(reading, "PARALLEL_FROM", 1)
    parallel = corpus.with_(index_dir=tmp_path / "parallel")
    build(parallel, progress=False)
    a, b = load(corpus.index_dir), load(parallel.index_dir)
    assert [a.passages[i] for i in range(a.total)] == [b.passages[i] for i in range(b.total)]
    tokens = ["科技", "特派员", "工作站"]
    assert np.allclose(a.bm25_scores(tokens), b.bm25_scores(tokens))


def test_approximate_search_returns_exact_scores(corpus, tmp_path, monkeypatch):
    """HNSW and IVF compare 8-bit codes; their candidates are re-scored from the float32 vectors,
    so (where the graph reaches every row, as at this size) hits and scores are exact search's, with
    a filter too."""
    monkeypatch.setattr(merging, "ANN_MIN_ROWS", 1)
    build(corpus, progress=False)
    exact = load(corpus.index_dir)
    for kind in ("hnsw", "ivf-sq8"):
        other = corpus.with_(index_dir=tmp_path / kind, vectors=kind)
        build(other, progress=False)
        approx = load(other.index_dir)
        assert {s.kind for s in approx.segments} == {kind}
        for pid in (0, exact.total // 2, exact.total - 1):
            q = exact.vector(pid)
            s1, i1 = exact.dense(q, 10)
            s2, i2 = approx.dense(q, 10)
            assert i2[0] == pid and np.allclose(s1, s2, atol=1e-6), kind
            assert list(i1[:5]) == list(i2[:5]), kind
            # a filter leaving few rows (one document's): HNSW compares those rows' codes, IVF reads their vectors
            allowed = exact.doc_of == exact.doc_of[pid]
            s1, i1 = exact.dense(q, 5, allowed)
            s2, i2 = approx.dense(q, 5, allowed)
            assert list(i1) == list(i2) and i2[0] == pid and np.allclose(s1, s2, atol=1e-6), kind


def test_a_big_build_folds_its_segments_into_few_with_one_graph_each(corpus, tmp_path, monkeypatch):
    """A build of many segments' worth folds them into segments of BIG_ROWS passages, each with
    one ANN graph; the index holds the same passages, sources and BM25 scores as one written whole."""
    for i in range(4):
        (corpus.corpus_dir / f"v{i}.txt").write_text(variant(i), encoding="utf-8")
    monkeypatch.setattr(merging, "ANN_MIN_ROWS", 1)
    whole = corpus.with_(index_dir=tmp_path / "whole", vectors="hnsw")
    build(whole, progress=False)
    monkeypatch.setattr(builder, "SEGMENT_ROWS", 15)
    monkeypatch.setattr(builder, "BIG_ROWS", 60)
    folded = corpus.with_(vectors="hnsw")
    build(folded, progress=False)
    segments = layout.current(folded.index_dir).manifest()["segments"]
    assert len(segments) >= 2 and {s["vectors"] for s in segments} == {"hnsw"}
    assert all(s["rows"] >= 60 for s in segments[:-1])
    on_disk = {p.name for p in folded.index_dir.glob("seg-*")}
    assert on_disk == {s["name"] for s in segments}  # the folded parts are gone
    a, b = load(whole.index_dir), load(folded.index_dir)
    assert a.total == b.total
    assert [a.passages[i] for i in range(a.total)] == [b.passages[i] for i in range(b.total)]
    assert [a.doc(i).source for i in range(a.total)] == [b.doc(i).source for i in range(b.total)]
    tokens = tokenize("哪些城市设立了科技特派员工作站 高新技术企业")
    assert np.allclose(a.bm25_scores(tokens), b.bm25_scores(tokens), atol=1e-5) and b.bm25_scores(tokens).any()
    hits = Searcher(folded).ask(FLOWERS[2], mode="bm25", top_k=1).hits
    assert hits[0].source == "v2.txt"
