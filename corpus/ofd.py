"""OFD (GB/T 33190, the national fixed-layout e-document format) read from its XML directly.

An .ofd is a zip: OFD.xml names each document's Document.xml, which lists its pages; each
page's Content.xml places TextObjects (often one per character or per run) at coordinates in
millimetres. Text is put back in reading order by grouping those objects into lines by their
baseline, left to right, and lines that run to the right margin are joined into paragraphs.

Read within the limits of corpus/limits.py: the zip through `zips.LimitedZip` (every read
counted, so 200,000 pages that are one content file count 200,000 times), the pages counted as
they are listed, before any is read, every XML file streamed through the parser (each element
used and dropped as it ends, never a tree of the whole file), and the text measured as it grows.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from policyqa.corpus.limits import LimitExceeded, too_long
from policyqa.corpus.loaders import LoadError
from policyqa.corpus.ocr import Line, join_lines
from policyqa.corpus.textbuild import TextBuilder
from policyqa.corpus.types import Extracted, LoadOptions
from policyqa.corpus.zips import LimitedZip


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _resolve(base_dir: str, loc: str) -> str:
    loc = loc.strip()
    return posixpath.normpath(loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc))


def ofd(path: Path, options: LoadOptions) -> Extracted:
    limits = options.limits
    data = path.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise LoadError(f"{path}: not a valid .ofd (not a zip archive); export it again from the OFD reader")
    with LimitedZip(data, limits) as z:

        def stream(name: str):
            if name not in z.names:
                raise LoadError(f"{path}: .ofd is missing {name}; export it again from the OFD reader")
            return _ends(z.open(name), limits.xml_depth)

        title, roots = _bodies(stream("OFD.xml"))
        b = TextBuilder(limits.document_chars)
        page_no = 0
        for doc_loc in roots:
            doc_dir = posixpath.dirname(doc_loc)
            pages = []
            for el, _ in stream(doc_loc):
                if _local(el.tag) == "Page" and el.get("BaseLoc"):
                    pages.append(el.get("BaseLoc"))
                    if page_no + len(pages) > limits.pages:  # counted as listed, before any page is read
                        raise LimitExceeded(f"has more than {limits.pages:,} pages (limit {limits.pages:,})")
            for loc in pages:
                page_no += 1
                lines = _page_lines(stream(_resolve(doc_dir, loc)), limits.document_chars - b.pos, limits.document_chars)
                b.add(join_lines(lines), page=page_no)
    return b.extracted(title)


def _ends(raw, max_depth: int):
    """Each element of an XML stream as the parser finishes it, with its open ancestors (innermost
    last); then it is dropped, so memory holds the path from the root, never the document."""
    stack: list = []
    with raw:
        for event, el in ElementTree.iterparse(raw, events=("start", "end")):
            if event == "start":
                stack.append(el)
                if len(stack) > max_depth:
                    raise LimitExceeded(f"nests its XML more than {max_depth} levels deep (limit {max_depth})",
                                        "export it again from the OFD reader")
                continue
            stack.pop()
            yield el, stack
            if stack:
                stack[-1].remove(el)  # every finished child goes at once, so this is the parent's only one


def _bodies(ends) -> tuple[str | None, list[str]]:
    """OFD.xml: the first title, and the Document.xml of each DocBody (its first DocRoot)."""
    title, roots, body_root = None, [], None
    for el, above in ends:
        name = _local(el.tag)
        if name == "DocBody":  # its Title and DocRoot ended before it
            if body_root:
                roots.append(body_root)
            body_root = None
        elif any(_local(a.tag) == "DocBody" for a in above):
            text = (el.text or "").strip()
            if name == "Title" and text and title is None:
                title = text
            elif name == "DocRoot" and el.text and body_root is None:
                body_root = _resolve("", el.text)
    return title, roots


def _page_lines(ends, room: int, limit: int) -> list[Line]:
    """TextObjects to lines: objects whose baselines lie within half a character height are one line.

    `room` is how many more characters the document may take (of `limit` in all); a page holding
    more stops there."""
    pieces: list[Line] = []
    chars = 0
    for code, above in ends:
        if _local(code.tag) != "TextCode":
            continue
        text = (code.text or "").strip()
        obj = next((a for a in reversed(above) if _local(a.tag) == "TextObject"), None)
        if not text or obj is None:
            continue
        chars += len(text)
        if chars > room:
            raise too_long(limit)
        try:
            bx, by, _bw, _bh = (float(v) for v in (obj.get("Boundary") or "0 0 0 0").split()[:4])
        except ValueError:
            bx = by = 0.0
        size = _number(obj.get("Size"), 3.5)
        x = bx + _number(code.get("X"), 0.0)
        y = by + _number(code.get("Y"), 0.0)
        pieces.append(Line(text, x, y - size, x + _width(code, text, size), y))
    pieces.sort(key=lambda p: (p.bottom, p.left))
    lines: list[list[Line]] = []
    for p in pieces:
        if lines and abs(lines[-1][0].bottom - p.bottom) < 0.5 * (p.bottom - p.top):
            lines[-1].append(p)
        else:
            lines.append([p])
    out = []
    for group in lines:
        group.sort(key=lambda p: p.left)
        out.append(Line("".join(p.text for p in group), group[0].left, min(p.top for p in group),
                        max(p.right for p in group), max(p.bottom for p in group)))
    return out


def _number(value: str | None, default: float) -> float:
    try:
        return float(value) if value else default
    except ValueError:
        return default


def _width(code, text: str, size: float) -> float:
    """The run's width from its DeltaX (per-glyph advances, 'g N d' repeats), else one em per glyph.

    Only the advances between the run's glyphs are expanded: 'g 300000000 1' on a run of nine
    characters gives eight, not three hundred million."""
    need = len(text) - 1
    deltas = (code.get("DeltaX") or "").split(maxsplit=3 * need + 3)  # more than `need` advances are never read
    advances: list[float] = []
    k = 0
    while k < len(deltas) and len(advances) < need:
        if deltas[k] == "g" and k + 2 < len(deltas):
            with contextlib.suppress(ValueError):
                advances += [float(deltas[k + 2])] * max(0, min(int(deltas[k + 1]), need - len(advances)))
            k += 3
        else:
            with contextlib.suppress(ValueError):
                advances.append(float(deltas[k]))
            k += 1
    if advances:
        return sum(advances[:need]) + size
    return size * len(re.sub(r"\s", "", text))
