"""Links to a search and the CSV export, without a server or a model: what they hold and how they parse."""

from __future__ import annotations

import csv
import io
from html import escape
from urllib.parse import parse_qs

from policyqa.qa.types import Answer, Group, Hit
from policyqa.ui.export import answer_csv
from policyqa.ui.links import SearchParams, from_share_query
from policyqa.ui.render import render_answer


def _hit(rank: int, city: str, source: str, span: str | None = None) -> Hit:
    text = f"{city}设立科技特派员工作站，首批建站{rank}家。"
    return Hit(rank=rank, score=1 / rank, pid=rank, doc_id=f"d{rank}", source=source, title=f"{city}“科技”, 要点",
               city=city, year=2022, doc_type="工作要点", section="标题 > 一、总则", start=10, end=10 + len(text), text=text,
               answer=text, answer_start=10, answer_end=10 + len(text), answer_span=span)


def _rows(answer: Answer) -> list[dict]:
    data = answer_csv(answer)
    assert data.startswith("\ufeff")  # Excel and WPS open it as UTF-8
    return list(csv.DictReader(io.StringIO(data[1:])))


def test_share_link_round_trip_and_defaults_left_out():
    p = SearchParams("哪些城市设立了科技特派员工作站", city="岳阳市", year=2022, mode="bm25", top_k=8)
    assert from_share_query({k: v[0] for k, v in parse_qs(p.share_query()).items()}) == p
    assert SearchParams("科技&创新?").share_query() == "q=%E7%A7%91%E6%8A%80%26%E5%88%9B%E6%96%B0%3F"
    assert parse_qs(p.api_query())["question"] == [p.question]


def test_a_hand_edited_link_drops_what_does_not_parse():
    assert from_share_query({}) is None and from_share_query({"q": "  "}) is None
    p = from_share_query({"q": " 科技 ", "year": "去年", "top_k": "9999", "city": ""})
    assert p == SearchParams("科技")


def test_csv_rows_are_the_cards_in_rank_order():
    hits = [_hit(1, "荆州市", "荆州-a.txt", "29家"), _hit(2, "岳阳市", "岳阳-b.txt")]
    rows = _rows(Answer(question="科技特派员工作站建了多少家", hits=hits, mode="hybrid"))
    assert [(r["rank"], r["source"], r["start"], r["end"], r["answer_span"]) for r in rows] == [
        ("1", "荆州-a.txt", "10", str(hits[0].end), "29家"), ("2", "岳阳-b.txt", "10", str(hits[1].end), "")]
    assert rows[0]["title"] == "荆州市“科技”, 要点" and rows[0]["found"] == "yes"  # quotes and commas survive


def test_csv_of_a_grouped_answer_has_one_row_per_place_and_the_page_links_to_it():
    hits = [_hit(1, "荆州市", "荆州-a.txt"), _hit(2, "岳阳市", "岳阳-b.txt"), _hit(3, "荆州市", "荆州-c.txt")]
    answer = Answer(question="哪些城市设立了科技特派员工作站", hits=hits, mode="hybrid",
                    groups=[Group("荆州市", [1, 3]), Group("岳阳市", [2])])
    rows = _rows(answer)
    assert [(r["place"], r["passages"], r["ranks"], r["source"]) for r in rows] == [
        ("荆州市", "2", "1 3", "荆州-a.txt"), ("岳阳市", "1", "2", "岳阳-b.txt")]
    assert "荆州-c.txt" in rows[0]["supporting"] and len(rows[0]["supporting"].splitlines()) == 2
    params = SearchParams(answer.question, city="荆州市")
    page = render_answer(answer, {}, params)
    assert f'href="api/ask.csv?{escape(params.api_query())}"' in page and f'href="?{escape(params.share_query())}"' in page
    assert "export-csv" not in render_answer(answer, {})
