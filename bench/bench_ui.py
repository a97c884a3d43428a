"""Submit→results latency of the web UI in a real browser: Debian's Chromium driven by Playwright.

    .venv/bin/python bench/bench_ui.py [--index var/index --corpus documents] [--runs 5] [--out FILE]

Serves the app `policyqa serve` serves (UI and API) from a thread on a free 127.0.0.1 port, over
an existing index, or without --index over the seed documents indexed with the real model in a
temporary folder (as tests/ui/test_browser.py does), and asks one question --runs times after a
warm-up. Two clocks: in the page (click → the first result card painted, from a capturing click
listener and requestAnimationFrame) and from outside (Playwright's click → card visible), which
adds the driver's round trips. Needs the playwright package and /usr/bin/chromium, as the browser
tests do.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (the repository on sys.path, for tests.support: the browser tests' server and clicks)

from policyqa.config import Settings
from policyqa.ui.app import create_app
from tests.support.browser import CARD_QUESTION, QUESTION_BOX, ask, chromium, first_card, stamp, window
from tests.support.indexes import seeds_indexed
from tests.support.serving import served

# a capturing click listener on 搜索 that records, per click, the time until a new result card is painted
LISTEN = """() => {
    window.__lat = [];
    const btn = document.querySelector('#search-btn');
    btn.addEventListener('click', () => {
        const t0 = performance.now();
        const old = document.querySelector('#results .results')?.dataset.stamp;
        const check = () => {
            const r = document.querySelector('#results .results');
            const c = r && r.dataset.stamp !== old && r.querySelector('.result-card');
            if (c && c.getBoundingClientRect().height > 0) { window.__lat.push(performance.now() - t0); return; }
            requestAnimationFrame(check);
        };
        requestAnimationFrame(check);
    }, {capture: true});
}"""


def latency(url: str, question: str, runs: int) -> tuple[list[float], list[float]]:
    """(in-page ms, from-outside ms) of each of `runs` presses of 搜索 for `question`, warm."""
    from playwright import sync_api
    from playwright.sync_api import expect

    with chromium(sync_api) as browser, window(browser, url) as page:
        ask(page, question)  # warm-up
        page.locator(QUESTION_BOX).first.fill(question)
        page.evaluate(LISTEN)
        outside = []
        for i in range(runs):
            before = stamp(page)
            t0 = time.perf_counter()
            page.locator("#search-btn").click()
            page.wait_for_function(
                "old => { const r = document.querySelector('#results .results');"
                " return r && r.dataset.stamp !== old && r.querySelector('.result-card'); }",
                arg=before,
            )
            expect(first_card(page)).to_be_visible()
            outside.append((time.perf_counter() - t0) * 1000)
            page.wait_for_function(f"() => window.__lat.length >= {i + 1}")
        return page.evaluate("() => window.__lat"), outside


def report(question: str, inside: list[float], outside: list[float]) -> str:
    def row(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.0f} ms, min {min(xs):.0f}, max {max(xs):.0f}"

    return "\n".join([
        f"submit→first result card visible, question {question!r}, warm, {len(inside)} runs",
        f"  in the page (click → card painted): {row(inside)}; runs {', '.join(f'{x:.0f}' for x in inside)}",
        f"  from outside (Playwright click → card visible): {row(outside)}",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", help="an existing index (default: the seed documents, indexed now in a temporary folder)")
    ap.add_argument("--corpus", default="documents", help="with --index: its documents folder")
    ap.add_argument("--question", default=CARD_QUESTION)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", help="also write the figures to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="policyqa-bench-ui-") as tmp:
        if args.index:
            settings = Settings().with_(index_dir=Path(args.index), corpus_dir=Path(args.corpus))
        else:
            settings = seeds_indexed(Path(tmp))
        with served(create_app(settings)) as url:
            inside, outside = latency(url + "/", args.question, args.runs)
    text = report(args.question, inside, outside)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
