"""Driving the web UI in Debian's Chromium through Playwright: start it, open a window, ask a question.

Shared by tests/ui/test_browser.py and bench/bench_ui.py, so the benchmark times the same clicks the
tests make.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT = 60_000  # ms; a search takes well under a second, an upload re-indexes
QUESTION_BOX = "#question textarea, #question input"
CARD_QUESTION = "哪些城市设立了科技特派员工作站"


@contextlib.contextmanager
def chromium(sync_api):
    """A headless Chromium (the system one at CHROMIUM) under `playwright.sync_api`; closed afterwards."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        try:
            yield b
        finally:
            b.close()


def new_context(browser):
    """A Chinese-locale desktop window whose waits give up after TIMEOUT."""
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT)
    return ctx


@contextlib.contextmanager
def window(browser, url: str, wait_for: str | None = QUESTION_BOX):
    """A page at `url` in a fresh window (new_context), once `wait_for` shows (None: once loaded); closed afterwards."""
    ctx = new_context(browser)
    try:
        pg = ctx.new_page()
        pg.goto(url)
        if wait_for:
            pg.locator(wait_for).first.wait_for(state="visible")
        yield pg
    finally:
        ctx.close()


def stamp(page) -> str:
    """The stamp of the results now rendered: each answer carries a new one."""
    return page.evaluate("() => document.querySelector('#results .results')?.dataset.stamp ?? ''")


def ask(page, question: str) -> None:
    """Type the question, press 搜索, and wait for the answer to this press to be rendered."""
    before = stamp(page)
    page.locator(QUESTION_BOX).first.fill(question)
    page.locator("#search-btn").click()
    page.wait_for_function(
        "old => { const r = document.querySelector('#results .results'); return r && r.dataset.stamp !== old; }",
        arg=before,
    )


def first_card(page):
    return page.locator("#results .result-card").first
