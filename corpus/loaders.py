"""File formats to plain text.

Each loader returns `Extracted`; structure the format declares (docx heading styles, HTML
<h1>-<h6>, Markdown #) comes back as explicit headings so the section parser need not guess.
Every failure is a `LoadError` whose message names the file and what to do about it. A file
over one of the limits in `corpus/limits.py` is one such failure, found while it is read; and
text that is not text (binary data a converter turned into characters) is refused by
`corpus/plausible.py` whatever the format.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from policyqa.corpus.limits import LimitExceeded, ReadLimits, megabytes, too_long
from policyqa.corpus.plausible import text_problem
from policyqa.corpus.tables import row_lines
from policyqa.corpus.textbuild import TextBuilder
from policyqa.corpus.types import Extracted, Heading, LoadOptions
from policyqa.errors import LoadError

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".doc", ".wps", ".pdf", ".ofd")
_BOOKMARK = re.compile(r"\[bookmark: [^\]]*\]")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CHROME_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button")
_CHROME_HINT = re.compile(r"nav|menu|footer|header|sidebar|breadcrumb|share|copyright|toolbar", re.I)



def load(path: Path, options: LoadOptions = LoadOptions()) -> Extracted:
    """The text of one file; pages, OCRed stretches and table rows recorded where the format has them."""
    suffix = path.suffix.lower()
    limits = options.limits
    try:
        if suffix in (".txt",):
            ex = Extracted(text=decode_text(read_text_file(path, limits), path))
        elif suffix in (".md", ".markdown"):
            ex = _markdown(decode_text(read_text_file(path, limits), path))
        elif suffix in (".html", ".htm"):
            ex = html(decode_text(read_text_file(path, limits), path), limits)
        elif suffix == ".docx":
            from policyqa.corpus.office import docx

            ex = docx(path, options)
        elif suffix in (".doc", ".wps"):
            from policyqa.corpus.office import legacy_word

            ex = legacy_word(path, options)
        elif suffix == ".pdf":
            from policyqa.corpus.pdf import pdf

            ex = pdf(path, options)
        elif suffix == ".ofd":
            from policyqa.corpus.ofd import ofd

            ex = ofd(path, options)
        else:
            raise LoadError(f"{path}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED)}")
    except LoadError:
        raise
    except LimitExceeded as e:
        raise LoadError(f"{path}: {e}") from None
    except Exception as e:  # corrupt archives, broken PDFs, ...: one clear line, never a traceback
        raise LoadError(f"{path}: cannot read {suffix} file ({type(e).__name__}: {e}); re-save or remove it") from e
    if not ex.regions and not ex.rows:  # blocks recorded by offset were normalised as they were added
        ex.text = normalize(ex.text)
    if not ex.text.strip():
        raise LoadError(f"{path}: no text found (empty, or a scan that OCR could not read); add a text version")
    if len(ex.text) > limits.document_chars:
        raise LoadError(f"{path}: {too_long(limits.document_chars, len(ex.text))}")
    problem = text_problem(ex.text)
    if problem:
        raise LoadError(f"{path}: does not look like text ({problem}); open it to check, and save a real document as .docx or .txt")
    return ex


def read_text_file(path: Path, limits: ReadLimits) -> bytes:
    """The bytes of a .txt, .md or .html file, refused unread when it is over the size limit."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limits.text_file_bytes:
            raise LimitExceeded(f"is {megabytes(size)} (limit {megabytes(limits.text_file_bytes)} for .txt, .md and .html files)")
        return f.read(size + 1)  # a file that grew since is read to the size it had


def normalize(text: str) -> str:
    """One newline convention and no editor artefacts; offsets are taken after this."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "")
    return _BOOKMARK.sub("", text)


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM) first, then GB18030, which covers GBK and GB2312."""
    if not data.strip():
        raise LoadError(f"{path}: file is empty; remove it or add text")
    if b"\x00" in data[:4096]:
        raise LoadError(f"{path}: looks like a binary file, not text; remove it or convert it to UTF-8 text")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text
    raise LoadError(f"{path}: not valid UTF-8 or GB18030 text; re-save it as UTF-8")


_UNTEXTLIKE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\ue000-\uf8ff]")  # control characters, private use


def _looks_like_text(text: str) -> bool:
    head = text[:4000]
    return len(_UNTEXTLIKE.findall(head)) <= max(2, len(head) // 100)


def _markdown(text: str) -> Extracted:
    headings, title, pos = [], None, 0
    for line in text.splitlines(keepends=True):
        m = re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if m:
            level, name = len(m.group(1)), m.group(2).strip()
            if level == 1 and title is None:
                title = name
            headings.append(Heading(pos, pos + len(line.rstrip("\n")), level, name))
        pos += len(line)
    return Extracted(text=text, title=title, headings=headings)


def html(markup: str, limits: ReadLimits = ReadLimits()) -> Extracted:
    """A web page's article as text: menus, headers and footers left out, data tables as rows.

    Nothing the page refers to (pictures, frames, style sheets) is fetched or read."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(_CHROME_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"class": _CHROME_HINT}) + soup.find_all(attrs={"id": _CHROME_HINT}):
        if not tag.decomposed and tag.name not in ("body", "html", "main", "article"):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or _densest(soup) or soup.body or soup
    b = TextBuilder(limits.document_chars)
    data_tables = {id(t) for t in root.find_all("table") if _is_data_table(t)}
    for el in root.find_all(list(_HEADING_TAGS) + ["p", "li", "td", "pre", "blockquote", "div", "table"]):
        above = _parents_within(el, root)  # a page-layout table around the article does not count
        if el.name == "table":
            if id(el) in data_tables and not any(id(t) in data_tables for t in above if t.name == "table"):
                for line in row_lines(_html_rows(el)):
                    b.add(line, row=True)
            continue
        if any(id(t) in data_tables for t in above if t.name == "table"):
            continue  # read with its table
        if el.name == "div" and el.find(list(_HEADING_TAGS) + ["p", "li", "td", "div"]):
            continue  # only leaf divs carry their own text
        if any(t.name in ("p", "li", "td", "pre", "blockquote", *_HEADING_TAGS) for t in above):
            continue
        line = re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()
        if not line:
            continue
        if el.name in _HEADING_TAGS:
            b.add(line, heading=int(el.name[1]))
            if el.name == "h1":
                title = line
        else:
            b.add(line)
    return b.extracted(title)


def _parents_within(el, root) -> list:
    out = []
    for parent in el.parents:
        if parent is root:
            break
        out.append(parent)
    return out


def _is_data_table(table) -> bool:
    """A grid of short cells (a 资金分配表), not a page-layout table holding the article."""
    if table.find("table") is not None:
        return False
    rows = table.find_all("tr")
    cells = [c for r in rows for c in r.find_all(["td", "th"], recursive=False)]
    if len(rows) < 2 or max((len(r.find_all(["td", "th"], recursive=False)) for r in rows), default=0) < 2:
        return False
    return not any(len(c.get_text(strip=True)) > 200 for c in cells)


def _html_rows(table) -> list[list[str]]:
    """Cell texts row by row; a colspan repeats the cell so columns stay under their headers."""
    rows = []
    for tr in table.find_all("tr"):
        row = []
        for cell in tr.find_all(["td", "th"], recursive=False):
            span = str(cell.get("colspan") or "1")
            row += [cell.get_text(" ", strip=True)] * (int(span) if span.isdigit() and 0 < int(span) < 50 else 1)
        rows.append(row)
    return rows


def _densest(soup):
    """The block holding most of the page's Chinese text: the article, not the menus."""
    best, best_len = None, 0
    for el in soup.find_all(["div", "section", "td"]):
        n = len(re.findall(r"[\u4e00-\u9fff]", "".join(p.get_text() for p in el.find_all("p", recursive=False))))
        if n > best_len:
            best, best_len = el, n
    return best
