"""A build publishes as it goes: what it has read answers by BM25 while it embeds, a killed build
leaves a commit that answers and a next build that finishes it, and the end is the index a build
that never published early would have written."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from policyqa.config import Publishing
from policyqa.encode import encoders
from policyqa.index.backends import open_backend
from policyqa.index.build import build
from policyqa.index.progress import PROGRESS_FILE
from policyqa.index.status import format_status, gather
from policyqa.index.store import layout
from policyqa.qa.search import Searcher
from policyqa.ui.render import status_html

EARLY = Publishing(every_docs=1, every_seconds=0.0, early_rows=1)  # a commit per document read, then per segment embedded
QUESTIONS = ["科技特派员", "高新技术企业数量", "哪些城市设立了科技特派员工作站", "专利申请量"]


class Watched:
    """The tiny model's encoder, calling `look()` before each chunk of passages it embeds."""

    def __init__(self, inner, look):
        self.inner, self.look = inner, look

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def passages(self, texts, batch_size=32, bar=None):
        self.look()
        return self.inner.passages(texts, batch_size, bar)


@pytest.fixture()
def tiny_encoder(tiny_settings, tmp_path):
    return encoders.load(tiny_settings.model, "fp32", "cpu", tmp_path / "encoders")


def answers(settings, enc) -> dict:
    """Each question's hits in every mode, as a user sees them (source, place, score)."""
    searcher = Searcher(settings, handle=open_backend(settings, encoder=enc))
    return {(q, mode): [(h.source, h.start, h.end, round(h.score, 5), h.answer) for h in searcher.ask(q, top_k=5, mode=mode).hits]
            for q in QUESTIONS for mode in ("hybrid", "dense", "bm25")}


def uninterrupted(built, enc, tmp_path) -> dict:
    """The answers of the same corpus built in one go, without early commits, from the same vectors:
    its embedding cache is `built`'s (an encoder's floats differ in the last bits with how passages
    are batched, and that is not what is compared)."""
    s = built.with_(index_dir=tmp_path / "in-one-go", publishing=Publishing(every_docs=10**9, every_seconds=1e9, early_rows=10**9))
    s.index_dir.mkdir()
    shutil.copy(built.index_dir / "embeddings.sqlite", s.index_dir / "embeddings.sqlite")
    assert build(s, progress=False, encoder=enc).embedded == 0
    assert len(layout.current(s.index_dir).manifest()["segments"]) == 1
    return answers(s, enc)


def cache_count(settings) -> int:
    con = sqlite3.connect(settings.index_dir / "embeddings.sqlite")
    try:
        return con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    finally:
        con.close()


def test_what_is_read_answers_by_bm25_while_it_is_embedded(corpus, tiny_encoder, tmp_path):
    s = corpus.with_(publishing=EARLY, embed_chunk=16)
    seen = []

    def look():
        if seen:
            return
        searcher = Searcher(s, handle=open_backend(s, encoder=tiny_encoder))
        hybrid = searcher.ask("科技特派员工作站", top_k=5)
        st = gather(s)
        seen.append((hybrid, st, format_status(st), status_html(st), st.to_json()))

    report = build(s, progress=False, encoder=Watched(tiny_encoder, look))
    hybrid, st, text, panel, api = seen[0]
    # before the first vector: every seed document is searchable, by its words
    assert st.documents == 5 and st.unembedded == st.passages == report.passages
    assert {h.city for h in hybrid.hits} >= {"荆州市"} and all("科技特派员" in h.text or "工作站" in h.text for h in hybrid.hits[:3])
    assert any("尚未嵌入" in n and f"{report.passages:,}" in n for n in hybrid.notes)
    assert hybrid.found  # no cosine to judge the hits by: not refused for it
    assert st.embedding is not None and st.embedding.pid == os.getpid() and st.embedding.total == report.passages
    assert "still embedding" in text and f"pid {os.getpid()}" in text
    assert "向量嵌入" in panel and f"{st.unembedded:,} 段尚未嵌入" in panel  # the 索引状态 panel
    assert api["unembedded"] == st.unembedded and api["embedding"]["total"] == report.passages  # /api/status
    assert api["embedding"]["rate"] is None and "starting" in text  # before the first chunk there is no pace yet
    assert any("published" in n and "commits before the last" in n for n in report.notes)
    # after: every passage has its vector, nothing says otherwise, and the index is the one-go index
    after = gather(s)
    assert after.unembedded == 0 and after.embedding is None and "embedding:" not in format_status(after)
    assert not (s.index_dir / PROGRESS_FILE).exists()
    final = layout.current(s.index_dir).manifest()
    assert len(final["segments"]) == 1 and not {"fresh", "embedded"} & set(final["segments"][0])
    assert answers(s, tiny_encoder) == uninterrupted(s, tiny_encoder, tmp_path)


def test_an_interrupted_build_leaves_an_answering_index_and_the_next_finishes_it(corpus, tiny_encoder, tmp_path):
    s = corpus.with_(publishing=EARLY, embed_chunk=8)
    chunks = []

    def stop_at_the_third_chunk():
        chunks.append(1)
        if len(chunks) == 3:
            raise KeyboardInterrupt  # Ctrl-C, two chunks (16 passages) embedded and cached

    with pytest.raises(KeyboardInterrupt):
        build(s, progress=False, encoder=Watched(tiny_encoder, stop_at_the_third_chunk))
    st = gather(s)
    assert st.documents == 5 and st.unembedded > 0 and st.embedding is None
    assert "no build is running: run policyqa build" in format_status(st)
    answer = Searcher(s, handle=open_backend(s, encoder=tiny_encoder)).ask("科技特派员", top_k=3)
    assert answer.hits and any("尚未嵌入" in n for n in answer.notes)

    cached = cache_count(s)
    report = build(s, progress=False, encoder=tiny_encoder)
    assert cached >= 8 and cache_count(s) == cached + report.embedded  # what was embedded before is not embedded again
    assert gather(s).unembedded == 0
    assert answers(s, tiny_encoder) == uninterrupted(s, tiny_encoder, tmp_path)


KILLED_BUILD = """
import sys, time
from pathlib import Path
from policyqa.config import Publishing, Settings
from policyqa.encode import encoders
from policyqa.index.build import build

model, corpus, index = sys.argv[1:4]
inner = encoders.load(model, "fp32", "cpu", Path(index).parent / "encoders-child")

class Slow:
    def __getattr__(self, name):
        return getattr(inner, name)

    def passages(self, texts, batch_size=32, bar=None):
        time.sleep(0.3)
        return inner.passages(texts, batch_size, bar)

settings = Settings(corpus_dir=Path(corpus), index_dir=Path(index), model=model, device="cpu", embed_chunk=8,
                    publishing=Publishing(every_docs=1, every_seconds=0.0, early_rows=1))
build(settings, progress=False, encoder=Slow())
"""


def test_a_killed_build_is_seen_as_stopped_and_finished_by_the_next(corpus, tiny_encoder, tmp_path):
    """kill -9 in the middle of embedding: the progress file stays behind, but its process is gone."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, corpus.model, str(corpus.corpus_dir), str(corpus.index_dir)])
    progress = corpus.index_dir / PROGRESS_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        st = gather(corpus) if progress.exists() else None
        if st is not None and st.embedding is not None and st.embedding.done >= 16:
            break
        time.sleep(0.1)
    assert child.poll() is None, "the build ended before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    st = gather(corpus)
    assert progress.exists() and st.embedding is None and st.unembedded > 0  # a dead build's pace is not shown
    assert Searcher(corpus, handle=open_backend(corpus, encoder=tiny_encoder)).ask("科技特派员", top_k=3).hits

    cached = cache_count(corpus)
    report = build(replace(corpus), progress=False, encoder=tiny_encoder)
    assert cached >= 16 and cache_count(corpus) == cached + report.embedded and gather(corpus).unembedded == 0
    assert answers(corpus, tiny_encoder) == uninterrupted(corpus, tiny_encoder, tmp_path)


def test_a_build_replacing_an_index_it_cannot_extend_publishes_once(corpus, tiny_encoder):
    """Another chunker: the old index answers until the new one is whole, never half of each."""
    s = corpus.with_(publishing=EARLY)
    build(s, progress=False, encoder=tiny_encoder)
    first = layout.current(s.index_dir).seq
    other = s.with_(chunking=replace(s.chunking, max_chars=s.chunking.max_chars // 2))
    seen = []
    build(other, progress=False, encoder=Watched(tiny_encoder, lambda: seen.append(layout.current(s.index_dir).seq)))
    assert seen and set(seen) == {first}  # while embedding, the old commit stayed live
    assert gather(other).unembedded == 0


def test_progress_file_names_no_running_build_when_its_process_is_gone(tmp_path):
    from policyqa.index import progress

    rec = progress.Recorder(tmp_path, total=100)
    rec.advance(40)
    assert progress.read(tmp_path).done in (0, 40)  # written at most once a second
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / PROGRESS_FILE).write_text((tmp_path / PROGRESS_FILE).read_text().replace(
        f'"pid":{os.getpid()}', f'"pid":{int(dead.stdout)}'))
    assert progress.read(tmp_path) is None
    rec.close()
    assert not Path(tmp_path / PROGRESS_FILE).exists()
