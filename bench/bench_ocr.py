"""OCR character accuracy and speed on scanned pages, RapidOCR (the loader's engine) against tesseract.

    .venv/bin/python bench/bench_ocr.py [--seed 广水] [--chars 1400] [--dpi 150,300] [--font-pt 16]

A seed document's text is drawn with the CJK font (fonts-wqy-zenhei) on A4 pages at each dpi,
a red seal multiplied over the first page, and saved as an image-only PDF (the same renderer the
tests use). RapidOCR reads it through the real loader (`policyqa.corpus.loaders.load`: page
picture taken out of the PDF, lines grouped, paragraphs rejoined, 〔〕 and “” restored);
tesseract (Debian tesseract-ocr + chi_sim, when installed) reads the same page pictures, with the
same repair. Character accuracy = 1 − edit distance / source length, after NFKC and without
whitespace. Targets: ≥ 98% at 300 dpi, ≥ 95% at 150 dpi.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (the repository on sys.path, for tests.support: the fixtures' renderer)

from policyqa.corpus import ocr
from policyqa.corpus.loaders import load
from tests.support.scans import char_accuracy, render_pages, write_scanned_pdf
from tests.support.seeds import printed_text

TARGET = {300: 0.98, 150: 0.95}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", default="广水", help="seed document (by city) whose text is printed and scanned")
    ap.add_argument("--chars", type=int, default=1400, help="how much of it (1400 characters is about 2 pages at 三号)")
    ap.add_argument("--dpi", default="150,300")
    ap.add_argument("--font-pt", type=float, default=16, help="16 pt = 三号, the body size of official documents")
    ap.add_argument("--tesseract-psm", default="3,6", help="tesseract page segmentation modes to try ('' for none)")
    args = ap.parse_args()
    text = printed_text(args.seed, args.chars)
    ocr.image_text(render_pages("预热", 150, seal=False)[0][0])  # model load is not a page's cost
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dpi in (int(d) for d in args.dpi.split(",")):
            pdf = Path(tmp) / f"scan{dpi}.pdf"
            write_scanned_pdf(pdf, text, dpi, args.font_pt)
            images, _ = render_pages(text, dpi, args.font_pt)
            t0 = time.perf_counter()
            ex = load(pdf)
            dt = time.perf_counter() - t0
            assert all(r.ocr for r in ex.regions)
            rows.append(("rapidocr (loader)", dpi, len(images), char_accuracy(ex.text, text), len(images) / dt))
            if shutil.which("tesseract"):
                for psm in [p for p in args.tesseract_psm.split(",") if p]:
                    t0 = time.perf_counter()
                    out = "\n".join(ocr.tidy(ocr.tesseract_text(im, psm=int(psm))) for im in images)
                    dt = time.perf_counter() - t0
                    rows.append((f"tesseract chi_sim psm {psm}", dpi, len(images), char_accuracy(out, text), len(images) / dt))
    print(f"{len(text)} characters of the {args.seed} seed document, {args.font_pt:g} pt, red seal on page 1")
    print("| engine | dpi | pages | char accuracy | pages/s | target |")
    print("|---|---|---|---|---|---|")
    for engine, dpi, pages, acc, speed in rows:
        target = TARGET.get(dpi)
        verdict = "" if target is None else f"≥ {target:.0%}: {'met' if acc >= target else 'NOT met'}"
        print(f"| {engine} | {dpi} | {pages} | {acc:.2%} | {speed:.3f} | {verdict} |")


if __name__ == "__main__":
    main()
