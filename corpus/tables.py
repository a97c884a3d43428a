"""Tables as text a reader (and BM25) can use: each row one line, every cell named by its header.

"项目名称：智能装备产业园；金额：1200万元" finds a figure together with its row and its column,
which run-together cells ("智能装备产业园 | 1200") do not. A unit written in the header
("金额（万元）") moves to the figure. The first row is taken as the header row.
"""

from __future__ import annotations

import re

_UNIT_IN_HEADER = re.compile(r"^(.+?)\s*[（(]\s*(?:单位[:：]?\s*)?([^()（）]{1,6})\s*[)）]$")
_NUMBER = re.compile(r"^[-+]?\d[\d,，]*(?:\.\d+)?$")


def clean(cell: str | None) -> str:
    return re.sub(r"\s+", " ", cell or "").strip()


def _header(cell: str) -> tuple[str, str]:
    """('金额', '万元') from '金额（万元）'; the unit only when it reads as one."""
    m = _UNIT_IN_HEADER.match(cell)
    if m and re.search(r"[元个家人项亩吨台%％米里次户年月日万亿千百件名套所座]", m.group(2)):
        return m.group(1).strip(), m.group(2).strip()
    return cell, ""


def dedupe(cells: list[str]) -> list[str]:
    """Merged cells come back once per grid column; keep one of each run."""
    out: list[str] = []
    for c in cells:
        if not out or c != out[-1] or not c:
            out.append(c)
    return out


def row_lines(rows: list[list[str]]) -> list[str]:
    """One line per row. A table of one row, or of one column, is just its cells."""
    rows = [[clean(c) for c in r] for r in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    if len(rows) == 1 or width == 1:
        return ["；".join(c for c in dedupe(r) if c) for r in rows]
    header = [_header(c) for c in rows[0]]
    lines = ["；".join(c for c in dedupe(rows[0]) if c)]
    for r in rows[1:]:
        pairs, seen = [], set()
        for i, cell in enumerate(r):
            if not cell:
                continue
            name, unit = header[i] if i < len(header) else ("", "")
            if (name, cell) in seen:  # a merged cell repeated across columns of one header
                continue
            seen.add((name, cell))
            value = cell + unit if unit and _NUMBER.match(cell) else cell
            pairs.append(f"{name}：{value}" if name and name != cell else value)
        if pairs:
            lines.append("；".join(pairs))
    return lines
