"""Lifecycles through the whole path a user takes: build, Searcher.ask, `ask --json`, the CSV and the API,
over the lifecycle evaluation's documents indexed with the tiny model (its vectors mean nothing, so these
tests use BM25 or assert what does not depend on ranking: filters, lookups, fields, order by year)."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

from policyqa.eval.lifecycle import DOCUMENTS
from policyqa.qa.lifecycle import KEPT_BY_IN_FORCE
from policyqa.qa.search import Filters, Searcher
from policyqa.ui.export import answer_csv
from tests.support.cli import one_line_error, run

OLD, NEW = "荆州-科技特派员管理办法-2019.txt", "荆州-科技特派员管理办法-2023.txt"


@pytest.fixture(scope="module")
def lifecycle_index(tmp_path_factory, tiny_settings):
    from policyqa.index.build import build

    root = tmp_path_factory.mktemp("lifecycle")
    shutil.copytree(DOCUMENTS, root / "documents")
    settings = tiny_settings.with_(corpus_dir=root / "documents", index_dir=root / "index")
    build(settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def lc_searcher(lifecycle_index):
    return Searcher(lifecycle_index)


def test_a_question_holding_a_number_gets_that_document_first(lc_searcher):
    for question in ("荆科发［２０２２］１５号", "荆政发(2019)3号还有效吗"):
        answer = lc_searcher.ask(question, top_k=3, mode="dense")  # meaningless vectors: the lookup alone puts it first
        assert answer.hits[0].source in ("荆州-科技计划项目管理办法-2022.txt", OLD)
        assert any("文号对应" in n for n in answer.notes)


def test_in_force_never_returns_a_repealed_expired_or_not_yet_document(lc_searcher):
    on = "2025-06-01"
    everything = lc_searcher.ask("科技特派员 补助 奖励", top_k=30, mode="bm25", filters=Filters(as_of=on))
    assert OLD in {h.source for h in everything.hits} and any(h.standing.status == "已废止" for h in everything.hits)
    kept = lc_searcher.ask("科技特派员 补助 奖励", top_k=30, mode="bm25", filters=Filters(in_force=True, as_of=on))
    assert kept.hits and all(h.standing.status in KEPT_BY_IN_FORCE for h in kept.hits)
    assert OLD not in {h.source for h in kept.hits} and NEW in {h.source for h in kept.hits}
    assert any(on in n for n in kept.notes)


def test_json_results_carry_status_dates_and_links(lc_searcher):
    body = lc_searcher.ask("科技特派员管理办法", top_k=10, mode="bm25", filters=Filters(as_of="2024-01-01")).to_json()
    old = next(r for r in body["results"] if r["source"] == OLD)
    assert (old["status"], old["effective"], old["expires"]) == ("已废止", "2019-04-01", "2024-03-31")
    assert old["replaced_by"]["文号"] == "荆政发〔2023〕12号" and old["replaces"] == []
    new = next(r for r in body["results"] if r["source"] == NEW)
    assert new["status"] == "现行有效" and [x["doc_id"] for x in new["replaces"]] == [old["doc_id"]]


def test_timeline_groups_by_year_in_json_and_one_csv_row_per_year(lc_searcher):
    answer = lc_searcher.ask("科技特派员管理办法历年变化", top_k=6, mode="bm25")
    years = [g["year"] for g in answer.to_json()["timeline"]]
    assert years == sorted(years) and len(years) >= 2
    rows = list(csv.DictReader(io.StringIO(answer_csv(answer).lstrip("\ufeff"))))
    assert [int(r["year"]) for r in rows] == years


def test_ask_json_and_a_date_that_does_not_exist_on_the_command_line(lifecycle_index):
    r = run("ask", "--index", lifecycle_index.index_dir, "荆政发〔2023〕12号", "--json", "--in-force", "--as-of", "2024-01-01")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)["results"][0]
    assert first["source"] == NEW and first["status"] == "现行有效" and first["as_of"] == "2024-01-01"
    bad = run("ask", "--index", lifecycle_index.index_dir, "科技特派员", "--as-of", "2023-02-30")
    assert bad.returncode == 2 and "YYYY-MM-DD" in one_line_error(bad.stderr)


def test_api_finds_a_document_by_number_with_its_status(lifecycle_index, lc_searcher):
    httpx = pytest.importorskip("httpx")
    from policyqa.ui.api import create_api
    from tests.support.serving import served

    with served(create_api(lifecycle_index, lc_searcher)) as url, httpx.Client(base_url=url, timeout=120) as client:
        docs = client.get("/api/documents", params={"wenhao": "荆政发［２０１９］３号", "as_of": "2024-01-01"}).json()["documents"]
        assert [(d["source"], d["status"], d["replaced_by"]["文号"]) for d in docs] == [(OLD, "已废止", "荆政发〔2023〕12号")]
        listed = client.get("/api/documents").json()["documents"]
        assert len(listed) == len(list(DOCUMENTS.glob("*.txt"))) and all("status" in d for d in listed)
        asked = client.get("/api/ask", params={"question": "科技特派员", "mode": "bm25", "in_force": "true",
                                               "as_of": "2024-01-01", "top_k": 20}).json()
        assert asked["results"] and OLD not in {r["source"] for r in asked["results"]}
        bad = client.get("/api/ask", params={"question": "科技特派员", "as_of": "2024-13-01"})
        assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]


def test_ui_checkbox_link_badges_timeline_and_document_list(lifecycle_index, lc_searcher):
    from policyqa.ui.app import build_app, doc_rows

    blocks = build_app(lifecycle_index, lc_searcher)
    handlers = {f.fn.__name__: f.fn for f in blocks.fns.values() if f.fn is not None}
    html, share = handlers["on_search"]("科技特派员管理办法", "全部", "全部", "全部", "bm25", 10)
    assert "status-badge repealed" in html and "replaced-by-link" in html and "in_force" not in share
    html, share = handlers["on_search"]("科技特派员管理办法", "全部", "全部", "全部", "bm25", 10, True)
    assert "status-badge repealed" not in html and "in_force=true" in share

    class Link:  # a shared link to that search: it runs with the box ticked
        query_params = {"q": "科技特派员管理办法", "mode": "bm25", "in_force": "true"}

    *_, ticked, results = handlers["on_load"](Link())
    assert ticked is True and "status-badge repealed" not in results
    html, _ = handlers["on_search"]("科技特派员管理办法的演变", "全部", "全部", "全部", "bm25", 6)
    assert html.count('class="year-group"') >= 2
    status = {row[0]: row[-1] for row in doc_rows(lc_searcher)}
    assert status[OLD].startswith("已废止") and "荆政发〔2023〕12号" in status[OLD] and status["荆州-2023年科技工作总结.txt"] == ""
