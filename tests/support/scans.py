"""Scanned-page fixtures made on the spot: text drawn with the CJK font, a red seal over it, saved as image-only PDF.

Shared by the format tests and `bench/bench_ocr.py`, so the benchmark measures exactly the pages the
tests read. Nothing here is a stored binary: every page is rendered from text each time.
"""

from __future__ import annotations

import math
import unicodedata
from pathlib import Path

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
A4_INCHES = (8.27, 11.69)
MARGIN_INCHES = 1.0


def wrap(text: str, font, width: float) -> list[str]:
    """Lines as a word processor would set them: paragraphs kept, long ones wrapped at the margin."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for ch in para:
            if line and font.getlength(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
        lines.append(line)
    return lines


def render_pages(text: str, dpi: int, font_pt: float = 16, seal: bool = True):
    """PIL pages (RGB, A4 at `dpi`) showing `text`; the first page gets a red seal over its upper text.

    16 pt is 三号, the body size of official documents (GB/T 9704). Returns (images, text of each page).
    """
    from PIL import Image, ImageChops, ImageDraw, ImageFont

    px = lambda inches: int(round(inches * dpi))
    w, h = px(A4_INCHES[0]), px(A4_INCHES[1])
    font = ImageFont.truetype(str(CJK_FONT), size=int(round(font_pt * dpi / 72)))
    line_h = int(font.size * 1.6)
    lines = wrap(text, font, w - 2 * px(MARGIN_INCHES))
    per_page = (h - 2 * px(MARGIN_INCHES)) // line_h
    images, texts = [], []
    for first in range(0, len(lines), per_page):
        chunk = lines[first : first + per_page]
        page = Image.new("RGB", (w, h), "white")
        draw = ImageDraw.Draw(page)
        for i, line in enumerate(chunk):
            draw.text((px(MARGIN_INCHES), px(MARGIN_INCHES) + i * line_h), line, font=font, fill="black")
        if seal and not images:
            page = ImageChops.multiply(page, _seal((w, h), (px(MARGIN_INCHES) + px(2.2), px(MARGIN_INCHES) + px(0.9)), px(0.83)))
        images.append(page)
        texts.append("\n".join(chunk))
    return images, texts


def _seal(size: tuple[int, int], centre: tuple[int, int], radius: int):
    """A 公章-like red ring with a star, on white, to multiply over a page (ink over text, as on paper)."""
    from PIL import Image, ImageDraw

    layer = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(layer)
    red = (220, 40, 40)
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=red, width=max(2, radius // 14))
    star = [
        (x + (radius * (0.35 if k % 2 == 0 else 0.14)) * math.sin(k * math.pi / 5),
         y - (radius * (0.35 if k % 2 == 0 else 0.14)) * math.cos(k * math.pi / 5))
        for k in range(10)
    ]
    draw.polygon(star, fill=red)
    return layer


def write_scanned_pdf(path: Path, text: str, dpi: int, font_pt: float = 16, seal: bool = True) -> list[str]:
    """An image-only PDF (no text layer at all) of `text`; returns the text of each page."""
    images, texts = render_pages(text, dpi, font_pt, seal)
    images[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return texts


def comparable(text: str) -> str:
    """What character accuracy compares: NFKC (，and , are one character) and no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def char_accuracy(ocr: str, source: str) -> float:
    """1 − edit distance / source length, on `comparable` text."""
    a, b = comparable(ocr), comparable(source)
    return 1.0 - edit_distance(a, b) / max(1, len(b))
