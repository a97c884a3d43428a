"""Files built to exhaust the reader: zip bombs, absurd OFD glyph runs and page lists, a PDF page
1.7 m wide, thousands of blank pages, and the memory a reader may take for any of them.

Every hostile file is generated here, small (the bombs are a few MB claiming a gigabyte). The
limits they run into are `corpus/limits.py`'s; tests that need a limit to bite quickly pass a
smaller `ReadLimits` through `LoadOptions`, as any caller may."""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

import pytest

from policyqa.corpus import ofd, pdf
from policyqa.corpus.limits import RSS_CEILING_MB, ReadLimits
from policyqa.corpus.loaders import load
from policyqa.corpus.types import LoadOptions
from tests.support import hostile
from tests.support.cli import where
from tests.support.hostile import refused

# --- zips -----------------------------------------------------------------------------------------

BOMBS = {
    "docx-1GB": lambda p: hostile.docx_bomb(p / "炸弹.docx"),
    "docx-header-lies": lambda p: hostile.docx_bomb(p / "说谎.docx", declared=4096),
    "ofd-1GB": lambda p: hostile.ofd_bomb(p / "炸弹.ofd"),
    "ofd-glyph-run": lambda p: hostile.ofd_delta_x(p / "步进.ofd"),
    "ofd-200000-pages": lambda p: hostile.ofd_many_pages(p / "页数.ofd"),
    "pdf-5000pt-page": lambda p: hostile.pdf_pages(p / "巨幅.pdf", 1, 5000, 5000),
    "pdf-5000pt-page-inked": lambda p: hostile.pdf_pages(p / "巨幅有字.pdf", 1, 5000, 5000, content=INKED),
}
INKED = b"0 g 1000 1000 3000 3000 re f 1 g 1500 1500 100 100 re f"  # something for OCR to look at


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """Each bomb written once for this module's tests (a gigabyte's CRC takes a second to compute)."""
    folder = tmp_path_factory.mktemp("bombs")
    return {name: make(folder) for name, make in BOMBS.items()}


@pytest.mark.parametrize("kind", ["docx", "ofd"])
def test_zip_bombs_are_refused_before_they_inflate(bombs, kind):
    """Before: a .docx or .ofd of a few MB holding 1 GB of XML was indexed, at a peak of several GB."""
    path = bombs[f"{kind}-1GB"]
    assert path.stat().st_size < 5_000_000
    t = time.monotonic()
    msg = refused(path)
    assert "expands to 1,024 MB when unzipped (limit 200 MB)" in msg and time.monotonic() - t < 5


def test_a_zip_whose_header_understates_a_member_is_stopped_at_its_declaration(bombs):
    """1 GB declared as 4 kB: zipfile stops at the declaration and fails the CRC; python-docx, which
    reads a member whole, never gets to inflate the gigabyte (memory: see the RSS test)."""
    assert "Bad CRC-32" in refused(bombs["docx-header-lies"])


def test_inflated_bytes_are_counted_as_they_stream(tmp_path):
    """A small limit passes the declared sizes only if they lie; the stream count catches the rest:
    here one page read many times, every read counted."""
    path = hostile.ofd_many_pages(tmp_path / "重复.ofd", pages=50, line="测试县科技创新工作方案正文。")
    limits = ReadLimits(unzipped_bytes=200_000)
    msg = refused(path, LoadOptions(limits=limits))
    assert "expands to more than 200,000 bytes when unzipped (limit 200,000 bytes)" in msg, msg


def test_xml_parsed_whole_is_limited_by_its_declared_size(tmp_path):
    path = hostile.docx_bomb(tmp_path / "大.docx", size=3 << 20)
    msg = refused(path, LoadOptions(limits=ReadLimits(xml_bytes=1 << 20)))
    assert "holds 3 MB of XML to parse (limit 1 MB)" in msg


def test_a_text_file_over_its_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "大.txt"
    path.write_text("测试县科技工作要点。\n" * 100_000, encoding="utf-8")
    assert "is 3 MB (limit 1 MB for .txt, .md and .html files)" in refused(path, LoadOptions(limits=ReadLimits(text_file_bytes=1 << 20)))


def test_a_zip_of_too_many_files_is_refused_before_zipfile_reads_them(tmp_path):
    members = [hostile._member(f"Doc_0/Res/{i}.xml", "") for i in range(300)]
    path = hostile.write_zip(tmp_path / "许多.ofd", hostile.ofd_files("许多", [], {}) + members)
    assert "is a zip of 302 files (limit 100 files)" in refused(path, LoadOptions(limits=ReadLimits(zip_members=100)))


# --- OFD ------------------------------------------------------------------------------------------

def test_a_glyph_run_repeated_300_million_times_costs_nothing(bombs):
    """Before: DeltaX="g 300000000 1" on a nine-character run took 4.7 GB."""
    path = bombs["ofd-glyph-run"]
    assert path.stat().st_size < 1500
    t = time.monotonic()
    assert load(path).text == "测试县科技工作要点"
    assert time.monotonic() - t < 2


def test_an_ofd_listing_200000_pages_is_refused_before_reading_one(bombs, monkeypatch):
    """Before: 200,000 Page entries pointing at one content file built 194 million characters."""
    path = bombs["ofd-200000-pages"]
    read = []
    real = ofd._page_lines
    monkeypatch.setattr(ofd, "_page_lines", lambda *a: read.append(1) or real(*a))
    assert "has more than 2,000 pages (limit 2,000)" in refused(path)
    assert not read


def test_text_is_limited_while_the_ofd_is_read(tmp_path, monkeypatch):
    path = hostile.ofd_many_pages(tmp_path / "长.ofd", pages=40)  # some 2,700 characters a page
    read = []
    real = ofd._page_lines
    monkeypatch.setattr(ofd, "_page_lines", lambda *a: read.append(1) or real(*a))
    msg = refused(path, LoadOptions(limits=ReadLimits(document_chars=10_000)))
    assert "too long to index (more than 10,000 characters of text, the limit is 10,000)" in msg
    assert len(read) <= 5  # stopped at the page that crossed the limit, not after all 40


def test_xml_nested_too_deep_is_refused(tmp_path):
    page = hostile.ofd_page("<a>" * 5000 + "</a>" * 5000)
    path = hostile.write_zip(tmp_path / "深.ofd", hostile.ofd_files("深", ["Pages/Page_0/Content.xml"],
                                                                    {"Doc_0/Pages/Page_0/Content.xml": page}))
    assert "nests its XML more than 256 levels deep" in refused(path)


# --- PDF ------------------------------------------------------------------------------------------

def test_a_pdf_over_the_page_limit_is_refused_before_any_page_is_read(tmp_path, monkeypatch):
    """Before: 5,000 blank pages were OCRed one by one, about 2.5 hours."""
    path = hostile.pdf_pages(tmp_path / "空白.pdf", 40)
    monkeypatch.setattr(pdf, "_page_texts", lambda *a: pytest.fail("no page may be read"))
    assert "has 40 pages (limit 30)" in refused(path, LoadOptions(limits=ReadLimits(pages=30)))


def test_blank_pages_are_never_ocred(tmp_path, monkeypatch):
    from policyqa.corpus import ocr

    calls = []
    monkeypatch.setattr(ocr, "image_text", lambda image: calls.append(image.size) or "")
    path = hostile.pdf_pages(tmp_path / "空白.pdf", 12)
    t = time.monotonic()
    assert "no text found" in refused(path)
    assert calls == [] and time.monotonic() - t < 30


def test_a_huge_page_is_rendered_within_the_pixel_limit(tmp_path, monkeypatch):
    """Before: one 5000 × 5000 pt page (433 bytes) was rendered at 300 dpi, 434 megapixels, 6.1 GB."""
    from policyqa.corpus import ocr

    sizes = []
    monkeypatch.setattr(ocr, "image_text", lambda image: sizes.append(image.size) or "测试县科技工作要点。一、总体目标。")
    path = hostile.pdf_pages(tmp_path / "巨幅.pdf", 1, 5000, 5000, content=b"0 g 1000 1000 3000 3000 re f")
    assert path.stat().st_size < 600
    limits = ReadLimits(page_pixels=4_000_000)
    ex = load(path, LoadOptions(limits=limits))
    (w, h), = sizes
    assert w * h <= limits.page_pixels and w > 1900
    assert any("page 1 (5,000 × 5,000 pt) read at 29 dpi" in x for x in ex.warnings), ex.warnings


def test_ocr_time_is_limited_per_document(tmp_path, monkeypatch):
    from policyqa.corpus import ocr

    def slow(image):
        time.sleep(0.7)
        return "测试县科技工作要点。"

    monkeypatch.setattr(ocr, "image_text", slow)
    path = hostile.pdf_pages(tmp_path / "扫描.pdf", 6, content=b"0 g 100 100 300 300 re f")
    msg = refused(path, LoadOptions(limits=ReadLimits(ocr_seconds=1)))
    assert "OCR took more than 1 s (limit 1 s per document)" in msg and "--no-ocr" in msg


def test_text_is_limited_while_the_pdf_is_read(tmp_path):
    from fpdf import FPDF

    if not hostile.CJK_FONT.exists():
        pytest.skip("needs fonts-wqy-zenhei")
    doc = FPDF()
    doc.add_font("wqy", fname=str(hostile.CJK_FONT))
    doc.set_font("wqy", size=10)
    for _ in range(8):
        doc.add_page()
        doc.multi_cell(0, 6, "测试县科技创新工作方案正文内容。" * 60)
    doc.output(str(tmp_path / "长.pdf"))
    msg = refused(tmp_path / "长.pdf", LoadOptions(limits=ReadLimits(document_chars=2_000)))
    assert "too long to index (more than 2,000 characters of text, the limit is 2,000)" in msg


# --- memory -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bomb", [pytest.param(b, marks=pytest.mark.slow) if b.endswith("inked") else b for b in BOMBS])
def test_no_bomb_takes_the_reader_past_its_memory_ceiling(bombs, bomb):
    """Each loaded in a fresh interpreter: its peak RSS, less what that interpreter held before the
    load (policyqa's readers imported), stays under RSS_CEILING_MB. Before this change the same
    files took 2.1 GB (the lying header), 2.3 GB (the 200,000 pages, after 13 minutes), 4.6 GB
    (the glyph run), 6.0 GB (the page) and over 7 GB (the two 1 GB bombs, stopped there); the
    inked page is the one that is OCRed, at the pixel limit."""
    if not Path("/proc/self/status").exists():
        pytest.skip("reads the peak RSS from /proc (Linux)")
    r = hostile.peak_rss(bombs[bomb])
    assert r["peak_mb"] - r["base_mb"] < RSS_CEILING_MB, r
    assert r["seconds"] < 60, r


def test_a_build_skips_each_hostile_file_by_name_and_goes_on(live, bombs, cli):
    docs = live.corpus_dir
    for name in ("docx-1GB", "ofd-200000-pages", "docx-header-lies"):
        shutil.copy(bombs[name], docs / bombs[name].name)
    (docs / "随机.doc").write_bytes(random.Random(7).randbytes(50_000))
    (docs / "乱码.txt").write_text(hostile.junk(3000), encoding="utf-8")
    (docs / "新通知.txt").write_text("测试县2024年科技工作要点\n一、总体目标\n全县新建省级科技企业孵化器2家。\n", encoding="utf-8")
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0 and "Traceback" not in err, err
    skipped = [x for x in out.splitlines() if x.startswith("  skipped:")]
    for expected in ("炸弹.docx: expands to 1,024 MB when unzipped (limit 200 MB)", "页数.ofd: has more than 2,000 pages (limit 2,000)",
                     "说谎.docx: cannot read .docx file", "随机.doc: not a Word 97–2003 or WPS file",
                     "乱码.txt: does not look like text"):
        assert any(expected in x for x in skipped), (expected, out)
    assert len(skipped) == 5 and "  + 新通知.txt" in out.splitlines(), out


def test_a_file_name_that_is_not_utf8_is_skipped_by_name_and_the_build_goes_on(live, cli):
    """A GBK name from a Windows zip came back from the OS as lone surrogates and broke every build
    (UnicodeEncodeError writing the segment); now it is skipped with the name GBK would give it."""
    import os

    bad = os.fsdecode(bytes(live.corpus_dir) + b"/" + "测试.txt".encode("gb18030"))
    Path(bad).write_text("测试县科技工作要点\n一、目标\n建设非统一编码命名实验基地。\n", encoding="utf-8")
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0 and "Traceback" not in err, err
    assert "not valid UTF-8 (as GBK it would be '测试.txt')" in out
    code, out, err = cli("status", *where(live, model=False))
    assert code == 0 and "not valid UTF-8" in out, out + err
    code, out, err = cli("ask", "科技特派员", "--index", live.index_dir, "--mode", "bm25", "--json")
    assert code == 0 and json.loads(out)["results"], err
