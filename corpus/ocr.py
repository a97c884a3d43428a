"""Text from page images, offline: RapidOCR (PP-OCR models shipped inside the PyPI wheel).

Chosen over Debian's tesseract-ocr + chi_sim by `bench/bench_ocr.py` (docs/formats.md, "Formats, scans and
tables"): 99.8% of characters right on 三号 text at both 150 and 300 dpi under a red seal, where
tesseract reaches the targets at one resolution or the other but not both; it is about 3 times
slower per page. tesseract stays here as `tesseract_text` only so the benchmark can keep comparing.

Lines come back in reading order; a line that runs to the right margin continues into the next
one without a newline, so a wrapped paragraph is one paragraph again (sentences are cut at
newlines later, and a scan's line breaks are layout, not structure).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from policyqa.errors import OcrUnavailable

_CJK = r"\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_ENDS_PARAGRAPH = "。！？；：:!?;"



@dataclass(slots=True)  # an OFD page can hold tens of thousands of them
class Line:
    text: str
    left: float
    top: float
    right: float
    bottom: float


@lru_cache(maxsize=1)
def _rapidocr():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as e:  # pragma: no cover - depends on the install
        raise OcrUnavailable(f"OCR needs rapidocr-onnxruntime ({e}); run: .venv/bin/python -m pip install rapidocr-onnxruntime") from e
    import logging

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    # the angle classifier is for lines printed upside down; upright scans do not need its extra pass
    return RapidOCR(use_cls=False)


def available() -> bool:
    try:
        _rapidocr()
    except OcrUnavailable:
        return False
    return True


def image_lines(image) -> list[Line]:
    """RapidOCR's text boxes grouped into lines, top to bottom, left to right."""
    import numpy as np

    result, _ = _rapidocr()(np.asarray(image.convert("RGB")))
    boxes = []
    for box, text, _score in result or []:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        boxes.append(Line(text.strip(), min(xs), min(ys), max(xs), max(ys)))
    # a line is the boxes that overlap it vertically (a seal can shift one box's centre), read left to right
    groups: list[list[Line]] = []
    for b in sorted((b for b in boxes if b.text), key=lambda b: b.top):
        for g in groups:
            top, bottom = min(x.top for x in g), max(x.bottom for x in g)
            overlap = min(bottom, b.bottom) - max(top, b.top)
            if overlap > 0.5 * min(bottom - top, b.bottom - b.top):
                g.append(b)
                break
        else:
            groups.append([b])
    lines: list[Line] = []
    for g in groups:
        g.sort(key=lambda b: b.left)
        text = g[0].text
        for prev, b in zip(g, g[1:]):
            text += (" " if re.search(r"[A-Za-z0-9]$", prev.text) and re.match(r"[A-Za-z0-9]", b.text) else "") + b.text
        lines.append(Line(text, g[0].left, min(b.top for b in g), max(b.right for b in g), max(b.bottom for b in g)))
    lines.sort(key=lambda line: line.top)
    return lines


def join_lines(lines: list[Line]) -> str:
    """Paragraphs from printed lines: a full line without closing punctuation runs on into the next."""
    if not lines:
        return ""
    right = max(line.right for line in lines)
    left = min(line.left for line in lines)
    height = sorted(line.bottom - line.top for line in lines)[len(lines) // 2]
    out = []
    for i, line in enumerate(lines):
        out.append(line.text)
        if i + 1 == len(lines):
            break
        full = right - line.right < 1.5 * height and (right - left) > 0
        out.append("" if full and line.text[-1] not in _ENDS_PARAGRAPH else "\n")
    return "".join(out)


_DOC_NUMBER_YEAR = re.compile(r"(?<=[\u4e00-\u9fff])[〔【\[（(]{1,2}((?:19|20)\d{2})[〕】\]）)]{1,2}(?=\d{1,4}号)")


def tidy(text: str) -> str:
    """Repair what PP-OCR's character set lacks: 〔〕 of a 文号 and Chinese curly quotes.

    The recogniser reads 〔2022〕 as 【2022】 and “ ” as straight quotes; a straight quote after an
    opening one closes it, otherwise it opens.
    """
    text = _DOC_NUMBER_YEAR.sub(r"〔\1〕", text)
    out = []
    for para in text.split("\n"):
        open_, chars = False, []
        for ch in para:
            if ch == '"':
                ch = "”" if open_ else "“"
            if ch in "“”":
                open_ = ch == "“"
            chars.append(ch)
        out.append("".join(chars))
    return "\n".join(out)


def has_ink(image, spread: int = 32) -> bool:
    """Whether a page or picture has anything on it. A blank page (one flat colour, give or take a
    little scanner noise) is never handed to OCR, which would spend two seconds to find nothing.

    The picture is shrunk by averaging first (a 300 dpi page to about 1,000 pixels), which keeps a
    line of print well below the paper's grey and smooths single noisy pixels away."""
    factor = max(1, max(image.size) // 1000)
    lo, hi = (image.reduce(factor) if factor > 1 else image).convert("L").getextrema()
    return hi - lo > spread


def image_text(image) -> str:
    """The text of one page image, paragraphs rejoined."""
    return tidy(join_lines(image_lines(image)))


def tesseract_text(image, lang: str = "chi_sim", psm: int = 3) -> str:
    """Debian's tesseract on one image (for the benchmark's comparison); spaces between CJK removed."""
    exe = shutil.which("tesseract")
    if exe is None:
        raise OcrUnavailable("tesseract is not installed; run: apt-get install tesseract-ocr tesseract-ocr-chi-sim")
    import io

    buf = io.BytesIO()
    image.convert("RGB").save(buf, "PNG")
    cmd = [exe, "stdin", "stdout", "-l", lang, "--psm", str(psm)]
    out = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, timeout=300, check=True)
    text = out.stdout.decode("utf-8", "replace")
    return re.sub(rf"(?<=[{_CJK}]) +(?=[{_CJK}])", "", text)
