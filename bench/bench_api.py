"""What the HTTP API adds to a question: /api/ask and /api/ask.csv against Searcher.ask in-process.

    .venv/bin/python bench/bench_api.py [--index var/index] [--limit 40]

Serves the app `policyqa serve` serves (API and UI) on a free 127.0.0.1 port from a thread, over
an existing index (build one first: .venv/bin/policyqa build). Every question is asked once
before the clocks start, so question vectors are cached and the figures are the search and the
HTTP round trip, not the encoder. The three are interleaved per question, so a busy machine
slows all of them alike; compare the medians as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx
from common import p50_p95

from policyqa.config import Settings
from policyqa.eval.gold import load_gold
from policyqa.ui.app import create_app, searcher_for
from tests.support.serving import served


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/index")
    ap.add_argument("--limit", type=int, default=40, help="gold questions timed (default 40)")
    args = ap.parse_args()
    settings = Settings().with_(index_dir=Path(args.index))
    searcher = searcher_for(settings)
    questions = [q.question for q in load_gold()][: args.limit]
    times: dict[str, list[float]] = {"Searcher.ask + to_json (in process)": [], "GET /api/ask": [], "GET /api/ask.csv": []}
    with served(create_app(settings, searcher)) as url, httpx.Client(base_url=url, timeout=60) as client:
        for q in questions:  # warm: every question vector cached
            client.get("/api/ask", params={"question": q}).raise_for_status()
        for q in questions:
            t = time.perf_counter()
            searcher.ask(q).to_json()
            times["Searcher.ask + to_json (in process)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            client.get("/api/ask", params={"question": q}).raise_for_status()
            times["GET /api/ask"].append(time.perf_counter() - t)
            t = time.perf_counter()
            client.get("/api/ask.csv", params={"question": q}).raise_for_status()
            times["GET /api/ask.csv"].append(time.perf_counter() - t)
    base = statistics.median(times["Searcher.ask + to_json (in process)"])
    print(f"{len(questions)} gold questions, hybrid, top 5, question vectors cached, index {args.index}")
    for name, ts in times.items():
        p50, p95 = p50_p95(ts)
        print(f"  {name:40s} p50 {p50 * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms  (p50 x{p50 / base:.2f})")


if __name__ == "__main__":
    sys.exit(main())
