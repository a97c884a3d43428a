"""The results of one question as a table (CSV): the rows the UI shows, for a spreadsheet or pandas.

A plain question gives one row per passage, in rank order. A 哪些城市 question gives one row
per place, in the order the UI lists them, with its best passage's fields and all its supporting
passages in one cell, so the table answers "which places" directly. Offsets are character
positions in the document's extracted text (`GET /api/documents/{doc_id}` returns that text).
No spreadsheet writer (openpyxl, xlsxwriter) is a dependency, so there is no XLSX; the CSV is
UTF-8 with a BOM, which Excel and WPS open as Chinese without an import dialog.

Every text cell comes from a document (its title, section, text) or its file name, which anyone
who can add a document chooses: a cell that starts like a formula (= + - @, a tab or carriage
return) is written with a leading ' as OWASP recommends, so Excel and WPS show `=HYPERLINK(…)`
as text instead of running it. Quotes and line breaks inside a cell are the csv module's to escape.
"""

from __future__ import annotations

import csv
import io

from policyqa.qa.types import Answer, Hit

HIT_COLUMNS = ["rank", "score", "city", "year", "doc_type", "status", "title", "section", "answer", "answer_span", "source",
               "doc_id", "start", "end", "answer_start", "answer_end", "found", "passage"]
YEAR_COLUMNS = ["year", "passages", "ranks", "rank", "score", "status", "title", "section", "answer", "answer_span", "source",
                "doc_id", "start", "end", "answer_start", "answer_end", "found", "supporting"]
PLACE_COLUMNS = ["place", "passages", "ranks", "rank", "score", "title", "section", "answer", "answer_span", "source",
                 "doc_id", "start", "end", "answer_start", "answer_end", "found", "supporting"]


def _hit_fields(h: Hit) -> dict:
    return {"rank": h.rank, "score": round(h.score, 6), "city": h.city or "", "year": h.year or "", "doc_type": h.doc_type,
            "status": h.standing.note,
            "title": h.title, "section": h.section, "answer": h.answer or "", "answer_span": h.answer_span or "",
            "source": h.source, "doc_id": h.doc_id, "start": h.start, "end": h.end,
            "answer_start": "" if h.answer_start is None else h.answer_start,
            "answer_end": "" if h.answer_end is None else h.answer_end, "passage": h.text}


def answer_rows(answer: Answer) -> tuple[list[str], list[dict]]:
    """(columns, rows) for this answer: per place for grouped answers, per passage otherwise."""
    found = "yes" if answer.found else "no (nearest passages)"
    if answer.groups:
        return PLACE_COLUMNS, _grouped(answer, [(g.city, g.ranks) for g in answer.groups], "place", found)
    if answer.timeline:
        return YEAR_COLUMNS, _grouped(answer, [(y.year or "", y.ranks) for y in answer.timeline], "year", found)
    return HIT_COLUMNS, [{**_hit_fields(h), "found": found} for h in answer.hits]


def _grouped(answer: Answer, groups: list[tuple[object, list[int]]], key: str, found: str) -> list[dict]:
    """One row per group (a place, a year): its best passage's fields, all its passages in one cell."""
    by_rank = {h.rank: h for h in answer.hits}
    rows = []
    for name, ranks in groups:
        hits = [by_rank[r] for r in ranks if r in by_rank]
        if not hits:
            continue
        best = _hit_fields(hits[0])
        best.pop("city"), best.pop("year"), best.pop("doc_type"), best.pop("passage")
        if key == "place":
            best.pop("status")
        supporting = "\n".join(f"[{h.rank}] {h.citation} · {h.source}：{h.answer or h.text}" for h in hits)
        rows.append({key: name, "passages": len(hits), "ranks": " ".join(str(h.rank) for h in hits), **best,
                     "found": found, "supporting": supporting})
    return rows


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value: object) -> object:
    """A cell a spreadsheet will not run as a formula: text starting with = + - @ tab or CR (after any
    spaces) gets a leading '. Numbers (ranks, scores, offsets) are left as numbers."""
    return "'" + value if isinstance(value, str) and value.lstrip(" \u3000").startswith(FORMULA_START) else value


def answer_csv(answer: Answer) -> str:
    """The CSV text (with a BOM) of `answer_rows`, every cell made `inert`."""
    columns, rows = answer_rows(answer)
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
    w.writeheader()
    w.writerows({k: inert(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()
