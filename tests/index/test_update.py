"""Keeping the index current: add, update, remove, and a build killed midway."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.index.update import add_files, remove_sources
from policyqa.qa.search import Searcher
from tests.support.indexes import indexed_copy
from tests.support.seeds import seed_file

NEW_DOC = "测试县2023年科技工作要点\n一、建设量子通信实验室\n测试县将建设量子通信联合实验室，引进量子密钥分发设备12套。\n"
PHRASE = "量子通信联合实验室"


@pytest.fixture()
def live(tmp_path, seed_settings):
    return indexed_copy(tmp_path, seed_settings)


def _sources(searcher, question, mode):
    return {h.source for h in searcher.ask(question, mode=mode, top_k=10).hits}


def test_add_reads_and_embeds_only_the_new_document(live, tmp_path):
    new = tmp_path / "测试县-2023年工作要点.txt"
    new.write_text(NEW_DOC, encoding="utf-8")
    report = add_files(live, [new], progress=False)
    assert report.added == ["测试县-2023年工作要点.txt"] and report.unchanged == 2
    searcher = Searcher(live)
    new_passages = [p for p in searcher.index.passages if searcher.index.docs[p.doc_id].source == new.name]
    assert report.embedded == len(new_passages) > 0  # the two unchanged documents were not re-embedded
    hits = searcher.ask(PHRASE, top_k=1).hits
    assert PHRASE in hits[0].text


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_removed_document_is_never_returned(live, tmp_path, mode):
    searcher = Searcher(live)
    target = seed_file("大冶").name
    assert target in _sources(searcher, "科技特派员助力强县工程", mode)
    report = remove_sources(live, [target], progress=False)
    assert report.removed == [target]
    assert target not in _sources(searcher, "科技特派员助力强县工程", mode)  # the running searcher reloads
    assert (live.corpus_dir / ".removed").exists()  # moved aside, not deleted


def test_replaced_document_serves_only_its_new_text(live):
    searcher = Searcher(live)
    path = live.corpus_dir / seed_file("咸宁").name
    path.write_text(NEW_DOC, encoding="utf-8")
    report = build(live, progress=False)
    assert report.updated == [path.name]
    for mode in ("hybrid", "dense", "bm25"):
        hits = searcher.ask("星创天地", mode=mode, top_k=10).hits
        assert not [h for h in hits if h.source == path.name and "星创天地" in h.text]  # the old text is gone
    assert PHRASE in searcher.ask(PHRASE, top_k=1).hits[0].text


def test_build_killed_midway_leaves_old_index_usable_and_resumes(live, tmp_path):
    before = layout.current(live.index_dir).path
    for i in range(4):  # enough new passages that the build is still embedding when killed
        text = seed_file("岳阳").read_text(encoding="utf-8")
        (live.corpus_dir / f"copy{i}.txt").write_text(f"第{i}号测试汇编\n" + text, encoding="utf-8")
    env = {**os.environ, "POLICYQA_EMBED_CHUNK": "16"}
    cmd = [str(Path(sys.executable).parent / "policyqa"), "build", "--corpus", str(live.corpus_dir),
           "--index", str(live.index_dir), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = live.index_dir / "embeddings.sqlite"
    baseline = sqlite3.connect(cache).execute("SELECT count(*) FROM vectors").fetchone()[0]
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        n = sqlite3.connect(cache, timeout=30).execute("SELECT count(*) FROM vectors").fetchone()[0]
        if n >= baseline + 32:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "build finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert layout.current(live.index_dir).path == before  # the old index is still the live one
    assert Searcher(live).ask("科技特派员", top_k=3).hits  # and fully usable
    report = build(live, progress=False)  # the next build finishes the job without redoing it
    assert sorted(report.added) == [f"copy{i}.txt" for i in range(4)]
    assert report.embedded < report.passages - 48
    assert Searcher(live).ask("第2号测试汇编", mode="bm25", top_k=10).hits
