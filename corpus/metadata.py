"""Document metadata from the text: title, place, year, type, issuer, 文号, date.

Government pages put these in a header block (索引号 / 文号 / 发文单位 / 发布日期); news
reports put a headline and a byline; a progress report may have none of it. Each field is
taken from the most reliable place that has it and left empty rather than guessed wildly.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from policyqa.corpus.places import infer_city, lookup
from policyqa.corpus.sections import is_wordy, marker
from policyqa.corpus.types import DocMeta, Extracted

# 〔〕 [] ［］ 【】 () （）, half- or full-width digits: the same 文号 is typed every way
DOC_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,10}[〔\[［【(（]\s*((?:19|20|１９|２０)\d{2})\s*[〕\]］】)）]\s*\d{1,4}\s*号")
_DATE_PATTERNS = [
    re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
    re.compile(r"((?:19|20)\d{2})-(\d{1,2})-(\d{1,2})"),
]
_DATE_LABEL = re.compile(r"(?:发布日期|发文日期|成文日期|编稿时间|发布时间|日期)\s*[:：]\s*")
_ISSUER_LABEL = re.compile(r"(?:发文单位|发文机关|发布机构|来源)\s*[:：]\s*([^\s:：]{2,30})")
_ORG = r"[\u4e00-\u9fff]{2,20}?(?:人民政府办公室|人民政府办公厅|人民政府|科学技术局|科学技术厅|科技局|科技厅|委员会|办公室|局|厅)"
_NEWS = re.compile(r"记者|通讯员|第\s*\d+\s*版|本报讯|特别报道")
# (type, pattern on the title, pattern on the opening text); first match wins
_TYPES: list[tuple[str, str, str]] = [
    ("提案答复", r"答复|提案|建议的(?:复|回)", r"提案收悉|建议收悉|现答复如下"),
    ("工作要点", r"工作要点", r"工作要点"),
    ("工作方案", r"(?:工作|实施|行动)方案", r"印发.{0,20}方案"),
    ("规划", r"规划", r"^$"),
    ("进展汇报", r"汇报|进展|总结|情况报告", r"汇报如下|报告如下|进展情况"),
    ("新闻报道", r"^$", _NEWS.pattern),
    ("政策解读", r"解读", r"^$"),
    ("通知", r"通知", r"^$"),
    ("管理办法", r"办法|细则|规定", r"^$"),
    ("意见", r"意见", r"^$"),
]
DOC_TYPES = tuple(name for name, _, _ in _TYPES)  # every type a document can be given


def _is_title_line(line: str) -> bool:
    if not (4 <= len(line) <= 80) or "。" in line[:-1] or line[-1] in "。，,；;：:":
        return False
    if marker(line) or re.search(r"[:：]", line[:8]) or DOC_NUMBER.fullmatch(line.strip()) or re.search(r"□|记者|通讯员", line):
        return False
    return is_wordy(line)


def _without_rows(ex: Extracted) -> str:
    if not ex.rows:
        return ex.text
    parts, pos = [], 0
    for a, b in sorted(ex.rows):
        parts.append(ex.text[pos:a])
        pos = b
    return "".join(parts) + ex.text[pos:]


def find_title(ex: Extracted, fallback: str) -> str:
    """Declared title, else the first title-like line (plus a ——subtitle), else the file name."""
    if ex.title and ex.title.strip():
        return ex.title.strip()
    text = _without_rows(ex)  # a table's 项目名称：… is a row, not the document's name
    label = re.search(r"名\s*称\s*[:：]\s*(\S.{2,60}?)(?:\s{2,}|\s+\S+[:：]|$)", text[:800], re.M)
    if label:
        return label.group(1).strip()
    lines = [ln.strip() for ln in text[:1500].splitlines() if ln.strip()]
    for i, line in enumerate(lines[:12]):
        if _is_title_line(line) and not line.startswith("——"):
            if i + 1 < len(lines) and lines[i + 1].startswith("——"):
                return line + lines[i + 1]
            return line
    return Path(fallback).stem


def find_doc_number(text: str) -> str | None:
    """The document's own 文号: labelled, or alone on a header line (not one it cites)."""
    head = text[:1500]
    labelled = re.search(r"文\s*号\s*[:：]\s*", head)
    if labelled:
        m = DOC_NUMBER.match(head, labelled.end())
        if m:
            return re.sub(r"\s+", "", m.group(0))
    for line in head.splitlines()[:15]:
        m = DOC_NUMBER.fullmatch(line.strip())
        if m:
            return re.sub(r"\s+", "", m.group(0))
    return None


def find_date(text: str) -> str | None:
    head = text[:2000]
    labelled = _DATE_LABEL.search(head)
    candidates = [head[labelled.end() : labelled.end() + 20]] if labelled else []
    # a date alone on a line is the signing date of an official document
    candidates += [ln.strip() for ln in head.splitlines() if re.fullmatch(r"\s*(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*", ln)]
    for cand in candidates:
        for pattern in _DATE_PATTERNS:
            m = pattern.search(cand)
            if m:
                y, mo, d = (int(g) for g in m.groups())
                if 1 <= mo <= 12 and 1 <= d <= 31:
                    return f"{y:04d}-{mo:02d}-{d:02d}"
    return None


def find_years(title: str, text: str, date: str | None, doc_number: str | None) -> tuple[int | None, list[int]]:
    """The document's year, and every year its title or header names (for filtering).

    The date or 文号 is the publication year. Without them, the latest year in the title
    (a "2022年成绩和2023年重点" report is published in 2023), else the year the text names
    most (ties to the earlier: a report's plans name next year as often as this one).
    """
    title_years = sorted({int(y) for y in re.findall(r"((?:19|20)\d{2})\s*年", title)})
    year = None
    if date:
        year = int(date[:4])
    elif doc_number:
        m = DOC_NUMBER.search(doc_number)
        year = int(m.group(1)) if m else None
    if year is None and title_years:
        year = title_years[-1]
    if year is None:
        counts = Counter(int(y) for y in re.findall(r"((?:19|20)\d{2})\s*年", text))
        if counts:
            top = max(counts.values())
            year = min(y for y, n in counts.items() if n == top)
    years = sorted(set(title_years) | ({year} if year else set()))
    return year, years


def find_doc_type(title: str, text: str) -> str:
    head = text[:400]
    if _NEWS.search(head):
        return "新闻报道"  # a newspaper's "解读" of a plan is still a news report
    for name, on_title, _ in _TYPES:
        if re.search(on_title, title):
            return name
    for name, _, on_text in _TYPES:
        if re.search(on_text, head):
            return name
    return "其他"


def find_issuer(title: str, text: str, city: str | None, doc_number: str | None) -> str | None:
    label = _ISSUER_LABEL.search(text[:1500])
    titled = re.match(rf"({_ORG})(?:关于|对)", title)
    issuer = None
    if label and re.fullmatch(_ORG, label.group(1)):
        issuer = label.group(1)
    elif titled:
        issuer = titled.group(1)
    elif label:
        issuer = label.group(1)
    elif doc_number:
        prefix = doc_number.split("〔")[0]
        if "政办" in prefix:
            issuer = "人民政府办公室"
        elif "科" in prefix:
            issuer = "科学技术局"
        elif prefix.endswith(("政发", "政函", "政")):
            issuer = "人民政府"
    if issuer and city and issuer.startswith(("市", "县", "人民", "科学")):
        issuer = city + issuer.removeprefix("市").removeprefix("县")
    return issuer


def issuing_body(title: str, text: str) -> str | None:
    """The government body that issued the document, as written: 发文单位/发文机关, the body opening
    its title (天津市人民政府办公厅关于…), or a body alone on a line at its head or signing it. A
    newspaper under 来源 is not an issuer: what it reports on decides the place."""
    label = _ISSUER_LABEL.search(text[:1500])
    if label and re.fullmatch(_ORG, label.group(1)):
        return label.group(1)
    titled = re.match(rf"({_ORG})(?:关于|对)", title)
    if titled:
        return titled.group(1)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines[:3] + lines[-6:]:
        if re.fullmatch(_ORG, line):
            return line
    return None


# Metadata is read from the opening of a document: its header, title and first sections name
# its place and year. Scoring each place found runs a few searches over the text, so over a
# whole long text the time grew with length × places named (a 1 MB digest naming 1,500
# places: 25 s; 50 MB: hours); over this prefix it is bounded. The seeds are under 10,000.
METADATA_CHARS = 50_000


def extract(ex: Extracted, source: str) -> DocMeta:
    from policyqa.corpus.lifecycle import read_lifecycle  # it reads DOC_NUMBER from here

    text = ex.text[:METADATA_CHARS]
    title = find_title(ex, source)
    doc_number = find_doc_number(text)
    date = find_date(text)
    year, years = find_years(title, text, date, doc_number)
    place = infer_city(text, title=title, issuer=issuing_body(title, text) or "", doc_number=doc_number or "")
    city = place.name if place and not place.provincial else None  # a province's own document has no city
    prefecture = place.parent if place and place.level in ("county", "district") and place.parent else None
    province = place.province if place else None
    if prefecture and lookup(prefecture) is None:
        prefecture = None
    return DocMeta(
        title=title,
        city=city,
        province=province,
        prefecture=prefecture,
        year=year,
        years=years,
        doc_type=find_doc_type(title, text),
        issuer=find_issuer(title, text, city, doc_number),
        doc_number=doc_number,
        date=date,
        lifecycle=read_lifecycle(ex.text, issued=date, title=title),  # the whole text: 本办法自…起施行 closes it
    )
