"""How soon a new corpus answers while it is being embedded (issue 28).

    .venv/bin/python bench/bench_progressive.py                 # 21,000 passages, 6 ms a passage: about 4 minutes
    .venv/bin/python bench/bench_progressive.py --n 3000 --ms 6 # quicker

A build of N passages (bench_scale's corpus: CMRC2018 contexts and the seed documents, copied) runs
in a child process with a stand-in encoder that sleeps MS milliseconds a passage and gives
bench_scale's random unit vectors: what a slow model costs, without the model. This process
polls the index as a reader would, from the moment the build starts, and prints when the first
BM25 question (of the first three compared below) was answered, each commit the build published (with how many passages still waited
for vectors), and the build's end. Target: the first BM25 answer in <= 40% of the build's wall time
(before publishing as it goes: 100%, the one commit came at the end).

Then the same corpus is built again with early commits turned off, from a copy of the first build's
embedding cache (the same vectors), and the two indexes answer the same questions in every mode:
they must agree exactly.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_scale import RandomEncoder, write_corpus
from common import REPO, questions

QUESTION = "科技特派员工作站"
NEVER = {"every_docs": 10**9, "every_seconds": 1e9, "early_rows": 10**9}


class SlowEncoder(RandomEncoder):
    """bench_scale's random vectors, at `ms` milliseconds a passage."""

    def __init__(self, ms: float):
        self.ms = ms

    def passages(self, texts, batch_size=32, bar=None):
        time.sleep(self.ms * len(texts) / 1000)
        return super().passages(texts, batch_size, bar)


def settings(corpus: Path, index: Path, early: bool):
    from policyqa.config import Publishing, Settings

    return Settings(corpus_dir=corpus, index_dir=index, publishing=Publishing() if early else Publishing(**NEVER))


def child(corpus: str, index: str, ms: str, early: str) -> None:
    from policyqa.index.build import build

    t = time.perf_counter()
    report = build(settings(Path(corpus), Path(index), early == "1"), progress=False, encoder=SlowEncoder(float(ms)))
    print(json.dumps({"seconds": time.perf_counter() - t, "passages": report.passages, "documents": report.documents,
                      "embedded": report.embedded}))


def watch(corpus: Path, index: Path, ms: float, probes: list[str]) -> dict:
    """Start the build, poll as a reader; the timeline of what a reader could do."""
    from policyqa.index.backends import open_backend
    from policyqa.index.store import layout
    from policyqa.qa.search import Searcher

    s = settings(corpus, index, True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(corpus), str(index), str(ms), "1"],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    first, commits, seen, searcher = None, [], None, None
    while proc.poll() is None:
        commit = layout.current(index)
        if commit is not None and commit.path.name != seen:
            seen = commit.path.name
            try:
                m = commit.manifest()
            except Exception:  # noqa: BLE001  (collected between reading CURRENT and the commit: look again)
                seen = None
                continue
            waiting = sum(e["rows"] for e in m["segments"] if not e.get("embedded", True))
            commits.append((time.perf_counter() - t0, len(m["documents"]), m["passages"], waiting))
            if first is None:
                searcher = searcher or Searcher(s, handle=open_backend(s, encoder=RandomEncoder()))
                if any(searcher.ask(q, top_k=5, mode="bm25").hits for q in probes):
                    first = time.perf_counter() - t0
        time.sleep(0.2)
    out = json.loads([ln for ln in proc.stdout.read().splitlines() if ln.startswith("{")][-1])
    out["wall"] = time.perf_counter() - t0
    return {"first": first, "commits": commits, "build": out}


def answers(index_settings, qs: list[str]) -> dict:
    from policyqa.index.backends import open_backend
    from policyqa.qa.search import Searcher

    searcher = Searcher(index_settings, handle=open_backend(index_settings, encoder=RandomEncoder()))
    return {(q, mode): [(h.source, h.start, h.end, round(h.score, 5)) for h in searcher.ask(q, top_k=5, mode=mode).hits]
            for q in qs for mode in ("hybrid", "dense", "bm25")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=21_000, help="passages (default 21,000)")
    p.add_argument("--ms", type=float, default=6.0, help="milliseconds the stand-in encoder takes a passage (default 6)")
    p.add_argument("--questions", type=int, default=50, help="questions compared between the two builds")
    p.add_argument("--work", default=str(REPO / "var" / "bench-progressive"))
    p.add_argument("--child", nargs=4)
    a = p.parse_args()
    if a.child:
        return child(*a.child)
    work = Path(a.work) / str(a.n)
    shutil.rmtree(work, ignore_errors=True)
    corpus, index, again = work / "corpus", work / "index", work / "in-one-go"
    files = write_corpus(corpus, a.n)
    print(f"corpus: {files} files, about {a.n:,} passages; stand-in encoder {a.ms} ms a passage")
    qs = [QUESTION, *questions(a.questions)]
    run = watch(corpus, index, a.ms, qs[:3])
    b = run["build"]
    print(f"build: {b['documents']:,} documents, {b['passages']:,} passages, {b['embedded']:,} embedded, "
          f"{b['wall']:.1f} s wall ({b['seconds']:.1f} s inside build())")
    for t, docs, passages, waiting in run["commits"]:
        print(f"  commit at {t:6.1f} s: {docs:,} documents, {passages:,} passages, {waiting:,} still embedding")
    first = run["first"]
    share = first / b["wall"] if first is not None else float("nan")
    print(f"first BM25 answer: {first:.1f} s = {share:.0%} of the build's wall time (target <= 40%)"
          if first is not None else "first BM25 answer: only after the build (no early commit)")
    # the same corpus in one go, from the same vectors: the same answers
    again.mkdir(parents=True)
    shutil.copy(index / "embeddings.sqlite", again / "embeddings.sqlite")
    t = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--child", str(corpus), str(again), "0", "0"], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    print(f"the same corpus without early commits, vectors from the cache: {time.perf_counter() - t:.1f} s")
    same = answers(settings(corpus, index, True), qs) == answers(settings(corpus, again, False), qs)
    print(f"answers to {len(qs)} questions x 3 modes identical to the build without early commits: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
