"""OFD (GB/T 33190, the national fixed-layout e-document format) read from its XML directly.

An .ofd is a zip: OFD.xml names each document's Document.xml, which lists its pages; each
page's Content.xml places TextObjects (often one per character or per run) at coordinates in
millimetres. Text is put back in reading order by grouping those objects into lines by their
baseline, left to right, and lines that run to the right margin are joined into paragraphs.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from policyqa.corpus.loaders import LoadError
from policyqa.corpus.ocr import Line, join_lines
from policyqa.corpus.textbuild import TextBuilder
from policyqa.corpus.types import Extracted, LoadOptions


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el, name: str):
    return [c for c in el.iter() if _local(c.tag) == name]


def _resolve(base_dir: str, loc: str) -> str:
    loc = loc.strip()
    return posixpath.normpath(loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc))


def ofd(path: Path, options: LoadOptions) -> Extracted:
    if not zipfile.is_zipfile(path):
        raise LoadError(f"{path}: not a valid .ofd (not a zip archive); export it again from the OFD reader")
    with zipfile.ZipFile(path) as z:
        names = {n.lstrip("/"): n for n in z.namelist()}

        def xml(name: str):
            if name not in names:
                raise LoadError(f"{path}: .ofd is missing {name}; export it again from the OFD reader")
            return ElementTree.fromstring(z.read(names[name]))

        root = xml("OFD.xml")
        b = TextBuilder()
        title = None
        page_no = 0
        for body in _children(root, "DocBody"):
            t = next((c.text for c in _children(body, "Title") if c.text and c.text.strip()), None)
            title = title or (t.strip() if t else None)
            doc_root = next((c.text for c in _children(body, "DocRoot") if c.text), None)
            if not doc_root:
                continue
            doc_loc = _resolve("", doc_root)
            document = xml(doc_loc)
            doc_dir = posixpath.dirname(doc_loc)
            for page in _children(document, "Page"):
                if not page.get("BaseLoc"):
                    continue
                page_no += 1
                b.add(join_lines(_page_lines(xml(_resolve(doc_dir, page.get("BaseLoc"))))), page=page_no)
    return b.extracted(title)


def _page_lines(content) -> list[Line]:
    """TextObjects to lines: objects whose baselines lie within half a character height are one line."""
    pieces: list[Line] = []
    for obj in _children(content, "TextObject"):
        try:
            bx, by, _bw, _bh = (float(v) for v in (obj.get("Boundary") or "0 0 0 0").split()[:4])
        except ValueError:
            bx = by = 0.0
        size = float(obj.get("Size") or 3.5)
        for code in _children(obj, "TextCode"):
            text = (code.text or "").strip()
            if not text:
                continue
            x = bx + float(code.get("X") or 0)
            y = by + float(code.get("Y") or 0)
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


def _width(code, text: str, size: float) -> float:
    """The run's width from its DeltaX (per-glyph advances, 'g N d' repeats), else one em per glyph."""
    deltas = (code.get("DeltaX") or "").split()
    advances: list[float] = []
    k = 0
    while k < len(deltas):
        if deltas[k] == "g" and k + 2 < len(deltas):
            advances += [float(deltas[k + 2])] * int(deltas[k + 1])
            k += 3
        else:
            with contextlib.suppress(ValueError):
                advances.append(float(deltas[k]))
            k += 1
    if advances:
        return sum(advances[: len(text) - 1]) + size
    return size * len(re.sub(r"\s", "", text))
