"""The web UI in a real browser: Debian's Chromium driven by Playwright against a live server.

The server runs over a real index of the seed documents (real model, built once for this
module in a temporary folder). Each step saves a screenshot in test-artifacts/.
`bench/bench_ui.py` times submit→results with the same server and clicks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policyqa.config import DEFAULT_MODEL
from tests.support.browser import CARD_QUESTION, CHROMIUM, QUESTION_BOX, TIMEOUT, ask, chromium, first_card, window
from tests.support.indexes import seeds_indexed
from tests.support.seeds import REPO
from tests.support.serving import served

ARTIFACTS = REPO / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    # Gradio's queue calls pandas APIs that pandas 3 deprecates; not ours to fix
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A built index of the seed documents and the app `policyqa serve` serves (UI and API) over it;
    yields (url, settings)."""
    from policyqa.ui.app import create_app

    settings = seeds_indexed(tmp_path_factory.mktemp("ui"))
    with served(create_app(settings)) as url:
        yield url + "/", settings


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[dev]')")
    with chromium(sync_api) as b:
        yield b


@pytest.fixture
def page(browser, server):
    url, _ = server
    with window(browser, url) as pg:
        yield pg


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_page_loads(page):
    from playwright.sync_api import expect

    expect(page).to_have_title("政策文件检索问答 · policyqa")
    expect(page.locator("#app-title")).to_have_text("政策文件检索问答")
    expect(page.locator("#search-btn")).to_be_visible()
    expect(page.get_by_text(CARD_QUESTION).first).to_be_visible()  # the examples
    expect(page.get_by_text("高级选项")).to_be_visible()
    shot(page, "01-loaded")


def test_card_question_finds_jingzhou_first(page):
    from playwright.sync_api import expect

    ask(page, CARD_QUESTION)
    card = first_card(page)
    expect(card).to_be_visible()
    expect(card).to_contain_text("荆州")
    expect(card.locator(".passage")).to_contain_text("科技特派员工作站")
    expect(card.locator("mark.answer")).to_contain_text("科技特派员工作站")
    expect(card.locator(".citation")).to_contain_text("荆州")
    expect(card.locator(".citation")).to_contain_text("第")
    expect(page.locator("#results .city-group").first).to_have_attribute("data-city", "荆州市")
    expect(page.locator("#results .city-group-head").first).to_contain_text("段相关内容")
    assert card.locator("span.term").count() > 0
    shot(page, "02-card-question")


def test_city_filter(page):
    from playwright.sync_api import expect

    pick(page, "filter-city", "岳阳市")
    ask(page, "高新技术企业有多少家")
    cards = page.locator("#results .result-card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 1
    for i in range(cards.count()):
        expect(cards.nth(i).locator(".meta .city")).to_have_text("岳阳市")
    shot(page, "03-filter-yueyang")


def test_full_document_view(page):
    from playwright.sync_api import expect

    ask(page, CARD_QUESTION)
    card = first_card(page)
    passage = card.locator(".passage").inner_text()
    card.locator("details.doc-toggle > summary").click()
    view = card.locator(".doc-view")
    expect(view).to_be_visible()
    mark = view.locator("mark.doc-passage")
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    assert mark.inner_text().strip() == passage.strip()
    assert len(view.locator(".doc-text").inner_text()) > len(passage)  # the whole document, not the passage
    # scrolled inside the document box: the passage is not at its top
    assert view.evaluate("v => v.scrollTop") > 0
    shot(page, "04-doc-view")


def test_empty_question(page):
    from playwright.sync_api import expect

    ask(page, "")
    msg = page.locator("#results .error-msg")
    expect(msg).to_be_visible()
    expect(msg).to_contain_text("问题为空")
    expect(page.locator("#results")).not_to_contain_text("Traceback")
    shot(page, "05-empty-question")


def test_no_answer(page):
    from playwright.sync_api import expect

    ask(page, "深圳市有哪些科技政策")  # a city no indexed document is about
    expect(page.locator("#results .no-answer")).to_contain_text("未找到相关内容")
    expect(page.locator("#results .result-card.nearest").first).to_contain_text("最接近的段落")
    shot(page, "06-no-answer")


def test_a_shared_link_opens_and_runs_its_search(browser, server):
    """Opening ?q=… shows the question in the box and its grouped answer, without a click."""
    from urllib.parse import quote

    from playwright.sync_api import expect

    url, _ = server
    with window(browser, f"{url}?q={quote(CARD_QUESTION)}", wait_for=None) as pg:
        expect(pg.locator("#results .city-group").first).to_have_attribute("data-city", "荆州市")
        expect(pg.locator("#results .groups-head").first).to_contain_text("涉及")
        expect(pg.locator(QUESTION_BOX).first).to_have_value(CARD_QUESTION)
        expect(first_card(pg).locator("mark.answer")).to_contain_text("科技特派员工作站")
        shot(pg, "10-shared-link")


def test_a_search_is_written_into_the_address_bar(browser, page):
    """After a search the page's URL is a link to it: opened elsewhere it shows the same results."""
    from urllib.parse import parse_qs, urlsplit

    from playwright.sync_api import expect

    pick(page, "filter-city", "岳阳市")
    ask(page, "高新技术企业有多少家")
    page.wait_for_function("() => location.search.includes('city=')")
    query = parse_qs(urlsplit(page.url).query)
    assert query["q"] == ["高新技术企业有多少家"] and query["city"] == ["岳阳市"]
    shown = [c.get_attribute("data-source") + "#" + c.get_attribute("data-rank")
             for c in page.locator("#results .result-card").all()]
    ctx = browser.new_context(locale="zh-CN")
    ctx.set_default_timeout(TIMEOUT)
    try:
        pg = ctx.new_page()
        pg.goto(page.url)
        expect(pg.locator("#results .result-card").first).to_be_visible()
        expect(pg.locator("#filter-city input").first).to_have_value("岳阳市")
        again = [c.get_attribute("data-source") + "#" + c.get_attribute("data-rank")
                 for c in pg.locator("#results .result-card").all()]
        assert again == shown
    finally:
        ctx.close()


def test_export_csv_holds_the_places_shown(page):
    """The 导出 CSV link of a 哪些城市 answer: one row per place listed, in the order shown."""
    import csv
    import io

    from playwright.sync_api import expect

    ask(page, "哪些城市选派了科技特派员")
    link = page.locator("#results a.export-csv")
    expect(link).to_be_visible()
    places = [g.get_attribute("data-city") for g in page.locator("#results .city-group").all()]
    assert len(places) > 1
    with page.expect_download() as dl:
        link.click()
    data = Path(dl.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert [r["place"] for r in rows] == places
    for r, g in zip(rows, page.locator("#results .city-group").all()):
        assert int(r["passages"]) == g.locator(".result-card").count()
        assert r["source"] == g.locator(".result-card").first.get_attribute("data-source")
    shot(page, "11-export")


def test_api_docs_page_works_offline(browser, server):
    """/docs is the OpenAPI page, served from local files (this browser reaches no CDN)."""
    from playwright.sync_api import expect

    url, _ = server
    with window(browser, url + "docs", wait_for=None) as pg:
        expect(pg.locator(".swagger-ui .title").first).to_contain_text("policyqa API")
        expect(pg.locator(".opblock-summary-path", has_text="/api/ask").first).to_be_visible()
        expect(pg.locator(".opblock-summary-path", has_text="/api/documents/{doc_id}").first).to_be_visible()
        shot(pg, "12-api-docs")


def test_upload_then_search(page, server, tmp_path):
    """Last: it changes the index. A new document is searchable as soon as the upload finishes."""
    from playwright.sync_api import expect

    _, settings = server
    doc = tmp_path / "测试县-2025年量子通信实验室建设方案.txt"
    doc.write_text(
        "测试县2025年量子通信实验室建设方案\n\n一、总体目标\n"
        "测试县将于2025年建成量子通信实验室，配备量子密钥分发试验网络，服务县域政务数据安全。\n"
        "二、保障措施\n县财政安排专项资金1200万元支持量子通信实验室建设。\n",
        encoding="utf-8",
    )
    bad = tmp_path / "空文件.txt"
    bad.write_bytes(b"\x00\x01\x02binary")
    page.get_by_role("tab", name="文档管理").click()
    expect(page.locator("#doc-table")).to_contain_text("荆州-2022年科技工作亮点和2023年重点工作解读.txt")
    expect(page.locator("#index-status")).to_contain_text(DEFAULT_MODEL)
    page.locator("#upload input[type=file]").set_input_files([str(doc), str(bad)])
    expect(page.locator("#upload")).to_contain_text("量子通信实验室建设方案")
    page.locator("#upload-btn").click()
    result = page.locator("#upload-result")
    expect(result.locator(".upload-ok")).to_contain_text("已加入并索引", timeout=120_000)
    expect(result.locator(".upload-skipped")).to_contain_text("空文件.txt")
    expect(result.locator(".upload-skipped")).to_contain_text("二进制")
    expect(page.locator("#doc-table")).to_contain_text(doc.name)
    expect(page.locator("#index-status")).to_contain_text("6 篇")
    assert (settings.corpus_dir / doc.name).is_file() and not (settings.corpus_dir / bad.name).exists()
    shot(page, "07-upload")

    page.get_by_role("tab", name="检索问答").click()
    ask(page, "测试县的量子通信实验室什么时候建成")
    card = first_card(page)
    expect(card).to_contain_text("量子通信实验室")
    expect(card.locator(".citation")).to_contain_text("量子通信实验室建设方案")
    shot(page, "08-upload-search")


def test_remove_document(page, server):
    """After the upload: take the new document out again; it leaves the table and the results."""
    from playwright.sync_api import expect

    _, settings = server
    name = "测试县-2025年量子通信实验室建设方案.txt"
    page.get_by_role("tab", name="文档管理").click()
    expect(page.locator("#doc-table")).to_contain_text(name)
    pick(page, "remove-source", name)
    page.locator("#remove-btn").click()
    expect(page.locator("#remove-result")).to_contain_text("已删除", timeout=120_000)
    expect(page.locator("#doc-table")).not_to_contain_text(name)
    expect(page.locator("#index-status")).to_contain_text("5 篇")
    assert not (settings.corpus_dir / name).exists()
    shot(page, "09-removed")
    page.get_by_role("tab", name="检索问答").click()
    ask(page, "测试县的量子通信实验室什么时候建成")
    expect(page.locator("#results")).not_to_contain_text("量子通信实验室建设方案")
