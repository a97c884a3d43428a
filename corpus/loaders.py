"""File formats to plain text.

Each loader returns `Extracted`; structure the format declares (docx heading styles, HTML
<h1>-<h6>, Markdown #) comes back as explicit headings so the section parser need not guess.
Every failure is a `LoadError` whose message names the file and what to do about it.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from policyqa.corpus.types import Extracted, Heading

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf")
_BOOKMARK = re.compile(r"\[bookmark: [^\]]*\]")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CHROME_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button")
_CHROME_HINT = re.compile(r"nav|menu|footer|header|sidebar|breadcrumb|share|copyright|toolbar", re.I)


class LoadError(Exception):
    """A file that cannot be turned into text; the build reports it and goes on."""


def load(path: Path) -> Extracted:
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt",):
            ex = Extracted(text=decode_text(path.read_bytes(), path))
        elif suffix in (".md", ".markdown"):
            ex = _markdown(decode_text(path.read_bytes(), path))
        elif suffix in (".html", ".htm"):
            ex = _html(decode_text(path.read_bytes(), path))
        elif suffix == ".docx":
            ex = _docx(path)
        elif suffix == ".pdf":
            ex = _pdf(path)
        else:
            raise LoadError(f"{path}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED)}")
    except LoadError:
        raise
    except Exception as e:  # corrupt archives, broken PDFs, ...: one clear line, never a traceback
        raise LoadError(f"{path}: cannot read {suffix} file ({type(e).__name__}: {e}); re-save or remove it") from e
    ex.text = normalize(ex.text)
    if not ex.text.strip():
        raise LoadError(f"{path}: no text found (empty, or a scanned PDF without a text layer); add a text version")
    return ex


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


def _looks_like_text(text: str) -> bool:
    bad = sum(1 for ch in text[:4000] if (ord(ch) < 32 and ch not in "\n\r\t\f") or 0xE000 <= ord(ch) <= 0xF8FF)
    return bad <= max(2, len(text[:4000]) // 100)


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


def _html(markup: str) -> Extracted:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(_CHROME_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"class": _CHROME_HINT}) + soup.find_all(attrs={"id": _CHROME_HINT}):
        if not tag.decomposed and tag.name not in ("body", "html", "main", "article"):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or _densest(soup) or soup.body or soup
    lines: list[str] = []
    headings: list[Heading] = []
    pos = 0
    for el in root.find_all(list(_HEADING_TAGS) + ["p", "li", "td", "pre", "blockquote", "div"]):
        if el.name == "div" and el.find(list(_HEADING_TAGS) + ["p", "li", "td", "div"]):
            continue  # only leaf divs carry their own text
        if el.find_parent(["p", "li", "td", "pre", "blockquote"] + list(_HEADING_TAGS)) is not None:
            continue
        line = re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()
        if not line:
            continue
        if el.name in _HEADING_TAGS:
            headings.append(Heading(pos, pos + len(line), int(el.name[1]), line))
            if el.name == "h1":
                title = line
        lines.append(line)
        pos += len(line) + 1
    return Extracted(text="\n".join(lines), title=title, headings=headings)


def _densest(soup):
    """The block holding most of the page's Chinese text: the article, not the menus."""
    best, best_len = None, 0
    for el in soup.find_all(["div", "section", "td"]):
        n = len(re.findall(r"[\u4e00-\u9fff]", "".join(p.get_text() for p in el.find_all("p", recursive=False))))
        if n > best_len:
            best, best_len = el, n
    return best


def _docx(path: Path) -> Extracted:
    import docx  # python-docx

    if not zipfile.is_zipfile(path):
        raise LoadError(f"{path}: not a valid .docx (not a zip archive); re-save it from Word or WPS")
    document = docx.Document(str(path))
    lines: list[str] = []
    headings: list[Heading] = []
    title = None
    pos = 0
    for para in document.paragraphs:
        line = para.text.strip()
        if not line:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        m = re.match(r"(?:Heading|标题)\s*(\d)", style)
        if style in ("Title", "标题"):
            title = title or line
            headings.append(Heading(pos, pos + len(line), 0, line))
        elif m:
            headings.append(Heading(pos, pos + len(line), int(m.group(1)), line))
        lines.append(line)
        pos += len(line) + 1
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                line = " | ".join(dict.fromkeys(cells))
                lines.append(line)
                pos += len(line) + 1
    if title is None and document.core_properties.title:
        title = document.core_properties.title
    return Extracted(text="\n".join(lines), title=title, headings=headings)


def _pdf(path: Path) -> Extracted:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise LoadError(f"{path}: PDF is encrypted; save an unencrypted copy")
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    title = None
    if reader.metadata and reader.metadata.title:
        title = str(reader.metadata.title).strip() or None
    return Extracted(text="\n".join(p for p in pages if p), title=title)
