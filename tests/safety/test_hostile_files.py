"""Files built to hurt the reader: a picture pulled in from the server's disk, zip bombs, absurd
OFD glyph runs and page lists, a PDF page 1.7 m wide, thousands of blank pages, random bytes
named .doc, and the XML attacks that already held.

Every hostile file is generated here, small (the bombs are a few MB claiming a gigabyte). The
limits they run into are `corpus/limits.py`'s; tests that need a limit to bite quickly pass a
smaller `ReadLimits` through `LoadOptions`, as any caller may.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pytest

from policyqa.corpus import ofd, office, pdf
from policyqa.corpus.limits import RSS_CEILING_MB, ReadLimits
from policyqa.corpus.loaders import LoadError, load
from policyqa.corpus.plausible import text_problem
from policyqa.corpus.reader import MAX_DOCUMENT_CHARS
from policyqa.corpus.types import LoadOptions
from tests.conftest import SEEDS
from tests.corpus import make_files
from tests.safety import hostile
from tests.safety.conftest import SECRET, where

needs_libreoffice = pytest.mark.skipif(office.soffice() is None, reason="needs LibreOffice (scripts/setup.sh installs it)")
needs_font = pytest.mark.skipif(not hostile.CJK_FONT.exists(), reason="needs fonts-wqy-zenhei (scripts/setup.sh --dev)")
SECRET_WORDS = ("紫色大象", "口令", "外部机密")  # any of them in the text means the picture was read


def refused(path: Path, options: LoadOptions = LoadOptions()) -> str:
    """The LoadError message for `path`, checked to be one line that names the file."""
    with pytest.raises(LoadError) as e:
        load(path, options)
    msg = str(e.value)
    assert path.name in msg and "\n" not in msg, msg
    return msg


def leaked(text: str) -> bool:
    return any(word in text for word in SECRET_WORDS)


# --- a picture from the server's disk -------------------------------------------------------------

@pytest.fixture()
def secret_picture():
    """A picture of secret words in a folder of its own outside the documents folder, on a path of
    ASCII letters as on a server (/etc, /home): LibreOffice does not resolve \\uN escapes in a field."""
    folder = Path(tempfile.mkdtemp(prefix="policyqa-outside-"))
    yield hostile.secret_picture(folder / "secret.png")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow  # LibreOffice and OCR
@needs_libreoffice
@needs_font
def test_the_secret_picture_is_readable_so_a_leak_would_show(secret_picture, tmp_path):
    """The control: the same picture pasted into a .docx is read by OCR, so the tests below, which
    find none of its words, would see them if LibreOffice's copy of it were read."""
    import docx

    d = docx.Document()
    d.add_paragraph("测试县科技工作要点。附图如下：")
    d.add_picture(io.BytesIO(secret_picture.read_bytes()))
    d.save(tmp_path / "pasted.docx")
    assert leaked(load(tmp_path / "pasted.docx").text)


@pytest.mark.slow
@needs_libreoffice
@needs_font
@pytest.mark.parametrize("name,linked_only", [("附图.doc", True), ("附图.wps", True), ("附图2.doc", False)])
def test_includepicture_never_brings_a_picture_in_from_disk(secret_picture, tmp_path, name, linked_only):
    """RTF under a .doc or .wps name whose INCLUDEPICTURE names a picture outside the documents
    folder: before this fix LibreOffice embedded it and OCR indexed its words."""
    path = hostile.rtf_including(tmp_path / name, secret_picture, linked_only)
    ex = load(path)
    assert "测试县科技工作要点" in ex.text
    assert not leaked(ex.text) and not any(r.ocr for r in ex.regions), ex.text


@pytest.mark.slow
@needs_libreoffice
@needs_font
@pytest.mark.parametrize("layer", ["fields stripped", "pictures checked against the file"])
def test_each_layer_alone_keeps_the_picture_out(secret_picture, tmp_path, monkeypatch, layer):
    """Field instructions are taken out of an RTF before LibreOffice sees it, and a picture in its
    result is OCRed only if its bytes are stored in the original: either one holds by itself."""
    if layer == "fields stripped":
        real = office.docx
        monkeypatch.setattr(office, "docx", lambda path, options, stored=None: real(path, options))
    else:
        monkeypatch.setattr(office, "strip_rtf_fields", lambda data: data)
    ex = load(hostile.rtf_including(tmp_path / "附图.doc", secret_picture))
    assert not leaked(ex.text), ex.text
    if layer != "fields stripped":  # LibreOffice did embed it: it is left unread, and the summary says so
        assert any("not stored in the file itself" in w for w in ex.warnings), ex.warnings


@pytest.mark.slow
@needs_libreoffice
@needs_font
def test_a_build_never_indexes_the_picture(live, secret_picture, cli):
    hostile.rtf_including(live.corpus_dir / "附图.doc", secret_picture)
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    assert "+ 附图.doc" in out, out
    code, out, err = cli("ask", "紫色大象 口令 外部机密", "--index", live.index_dir, "--mode", "bm25", "--json", "--top-k", "20")
    assert code == 0, err
    assert not any(leaked(r["text"]) for r in json.loads(out.splitlines()[0])["results"])


@pytest.mark.slow
@needs_libreoffice
@needs_font
@pytest.mark.parametrize("kind", ["doc", "rtf"])
def test_pictures_stored_in_a_doc_are_still_read(tmp_path, kind):
    """The check against the original's bytes keeps what the file stores: LibreOffice writes those
    pictures back byte for byte (a .doc and an RTF that LibreOffice itself wrote, named .doc)."""
    import docx

    picture = hostile.secret_picture(tmp_path / "附图.png", "关于申报科技计划项目的通知")
    d = docx.Document()
    d.add_paragraph("测试县科技工作要点。附件如下：")
    d.add_picture(str(picture))
    d.save(tmp_path / "src.docx")
    path = hostile.libreoffice_save(tmp_path / "src.docx", tmp_path / "附件.doc", "doc:MS Word 97" if kind == "doc" else "rtf")
    ex = load(path)
    assert "申报科技计划项目" in ex.text and [r.ocr for r in ex.regions] == [True], ex.text
    assert not ex.warnings


def test_rtf_field_instructions_go_and_what_they_show_stays():
    rtf = (rb'{\rtf1\ansi before '
           rb'{\field{\*\fldinst {\b INCLUDE}{PICTURE} "/srv/secret.png" \\d}{\fldrslt shown result}}'
           rb'{\field{\*\fldinst INCLUDETEXT "C:\\\\secret.txt" \{ not a group \}}{\fldrslt kept}}'
           rb'{\field{\*\fldinst{\*\fldinst LINK Word.Document "/srv/x.doc"}}{\fldrslt also kept}}'
           rb'{\object\objautlink{\*\objdata 0102}{\result linked object}}'
           rb'{\*\fldinst {\bin5 }}{}} IMPORT /srv/y}}'
           rb' after}')
    out = office.strip_rtf_fields(rtf)
    for gone in (b"INCLUDE", b"PICTURE", b"secret", b"LINK", b"IMPORT", b"/srv/", b"linked object", b"objautlink"):
        assert gone not in out, (gone, out)
    for kept in (b"before", b"shown result", b"kept", b"also kept", b"after"):
        assert kept in out, (kept, out)
    assert out.count(b"{") == out.count(b"}")


def test_pictures_of_an_rtf_are_found_in_its_hex():
    data = bytes(range(256)) * 4
    hexed = data.hex().encode()
    rtf = b"{\\rtf1{\\pict\\pngblip\n" + b"\r\n".join(hexed[i : i + 127] for i in range(0, len(hexed), 127)) + b"}}"
    assert data in office.rtf_picture_bytes(rtf)


# --- what really is inside a .doc decides ---------------------------------------------------------

def test_random_bytes_named_doc_are_refused_before_libreoffice(tmp_path, monkeypatch):
    """Before: LibreOffice imported 50 kB of random bytes as text and 53 junk passages were indexed."""
    monkeypatch.setattr(office, "soffice", lambda: pytest.fail("LibreOffice must not be started"))
    path = tmp_path / "随机.doc"
    path.write_bytes(random.Random(7).randbytes(50_000))
    assert "not a Word 97–2003 or WPS file" in refused(path)


def test_a_web_page_named_doc_is_read_here_and_fetches_nothing(tmp_path, outside, secret_picture, monkeypatch):
    monkeypatch.setattr(office, "soffice", lambda: pytest.fail("LibreOffice must not be started"))
    path = tmp_path / "网页.doc"
    path.write_text(f'<html><head><meta charset="utf-8"><title>通知</title></head><body><div><h1>关于科技项目申报的通知</h1>'
                    f'<p>各单位于2024年3月15日前申报科技计划项目，逾期不予受理。</p><img src="{secret_picture}">'
                    f'<iframe src="{outside / "decoy.txt"}"></iframe><p>请抓好落实。</p></div></body></html>', encoding="utf-8")
    ex = load(path)
    assert "2024年3月15日前申报" in ex.text and "请抓好落实" in ex.text
    assert not leaked(ex.text) and SECRET not in ex.text


def test_a_docx_named_doc_is_read_as_the_docx_it_is(tmp_path, monkeypatch):
    monkeypatch.setattr(office, "soffice", lambda: pytest.fail("LibreOffice must not be started"))
    src = make_files.write_docx(tmp_path / "x.docx", "测试县科技特派员管理办法", ["第一条 为规范科技特派员选派和管理，制定本办法。"])
    path = tmp_path / "特派员.wps"
    shutil.copy(src, path)
    assert "为规范科技特派员选派和管理" in load(path).text


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


# --- LibreOffice out of time ----------------------------------------------------------------------

def test_a_conversion_out_of_time_leaves_no_process_and_no_folder(tmp_path, monkeypatch):
    """A stand-in for LibreOffice that starts a child and hangs, as soffice starts soffice.bin: on
    timeout the whole process group is killed and the conversion folder removed."""
    pids = tmp_path / "pids"
    fake = tmp_path / "soffice"
    fake.write_text(f'#!/bin/sh\nsleep 300 &\necho $! >> "{pids}"\necho $$ >> "{pids}"\nwait\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(office, "soffice", lambda: str(fake))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path = tmp_path / "慢.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    t = time.monotonic()
    msg = refused(path, LoadOptions(limits=ReadLimits(convert_seconds=1)))
    assert "LibreOffice did not convert it within 1s" in msg and time.monotonic() - t < 10
    started = [int(x) for x in pids.read_text().split()]
    assert len(started) == 2
    for pid in started:
        assert not _alive(pid), pid
    assert list(temp.iterdir()) == []


def _alive(pid: int) -> bool:
    """Running, not gone or a zombie waiting for its parent (init, here) to collect it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- text that is not text ------------------------------------------------------------------------

def _junk(n: int, seed: int = 3) -> str:
    """What LibreOffice made of random bytes: UTF-16 code units from all over the basic plane."""
    rng = random.Random(seed)
    return "".join(chr(c) for c in (rng.randrange(0x20, 0xD800) for _ in range(n)))


def _random_han(n: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0x9FA6)) + ("。\n" if i % 40 == 39 else "") for i in range(n))


@pytest.mark.parametrize("fmt", ["txt", "html", "docx", "ofd"])
@pytest.mark.parametrize("make,why", [(_junk, "of its characters are letters, digits, Chinese or punctuation"),
                                      (_random_han, "of its Chinese characters are common ones")], ids=["junk", "random-han"])
def test_text_that_is_not_text_is_refused_from_every_format(tmp_path, fmt, make, why):
    text = make(3000)
    path = tmp_path / f"乱码.{fmt}"
    if fmt == "txt":
        path.write_text(text.replace("\x00", ""), encoding="utf-8", errors="replace")
    elif fmt == "html":
        path.write_text("<html><body><p>" + text.replace("<", " ").replace("&", " ") + "</p></body></html>",
                        encoding="utf-8", errors="replace")
    elif fmt == "docx":
        make_files.write_docx(path, "乱码", [_xml_safe(text[i : i + 200]) for i in range(0, len(text), 200)])
    else:
        lines = [_xml_escape(text[i : i + 25]) for i in range(0, 1500, 25)]
        hostile.write_zip(path, hostile.ofd_files("乱码", ["Pages/Page_0/Content.xml"], {
            "Doc_0/Pages/Page_0/Content.xml": hostile.ofd_page("".join(hostile.ofd_text(x, y=10 + 4 * k) for k, x in enumerate(lines)))}))
    msg = refused(path)
    assert "does not look like text" in msg and why in msg, msg


def _xml_safe(s: str) -> str:
    return "".join(c for c in s if c in "\t\n" or 0x20 <= ord(c) < 0xD800)


def _xml_escape(s: str) -> str:
    from xml.sax.saxutils import escape

    return escape(_xml_safe(s).replace("\n", " "))


def test_every_seed_document_looks_like_text():
    seeds = sorted(SEEDS.glob("*.txt"))
    assert len(seeds) == 5
    for path in seeds:
        assert text_problem(path.read_text(encoding="utf-8")) is None, path.name
        assert load(path).text


@pytest.mark.parametrize("text", [
    "测试县2023年科技工作要点\n一、总体目标\n到2025年，全县新增高新技术企业12家。",
    "项目名称：智能装备产业园；承担单位：县经开区；金额：1200万元\n①②③ □■ ℃ ㎡ ≥90% ★ α、β",
    "Notice on the 2024 Science and Technology Plan: applications are due on 15 March 2024.",
    "國務院關於印發《新一代人工智能發展規劃》的通知。各省、自治區、直轄市人民政府，國務院各部委、各直屬機構：" * 3,
])
def test_real_text_of_all_kinds_passes(text):
    assert text_problem(text) is None


def test_a_limit_stated_once_is_the_one_the_reader_uses():
    assert MAX_DOCUMENT_CHARS == ReadLimits().document_chars == LoadOptions().limits.document_chars
    assert ReadLimits().convert_seconds == office.CONVERT_TIMEOUT_S


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


# --- XML attacks, which held before and still do --------------------------------------------------

@pytest.fixture()
def listener():
    """A local HTTP server that records every request: a remote reference must never reach it."""
    import http.server
    import threading

    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


LAUGHS = ('<!DOCTYPE d [<!ENTITY l0 "哈哈哈哈哈哈哈哈哈哈">'
          + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)) + "]>")
XML_ATTACKS = {
    "xxe": lambda secret, url: (f'<!DOCTYPE d [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>', "&xxe;"),
    "parameter-entity": lambda secret, url: (f'<!DOCTYPE d [<!ENTITY % p SYSTEM "{secret.as_uri()}"> %p;]>', ""),
    "remote-entity": lambda secret, url: (f'<!DOCTYPE d [<!ENTITY r SYSTEM "{url}/entity"><!ENTITY % q SYSTEM "{url}/dtd"> %q;]>',
                                          "&r;"),
    "xinclude": lambda secret, url: ("", f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret}" parse="text"/>'
                                         f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}/xi" parse="text"/>'),
    "billion-laughs": lambda secret, url: (LAUGHS, "&l9;"),
}
BODY = "测试县科技工作要点。一、总体目标：到2025年全县新增高新技术企业12家。"


def _xml_attack_file(folder: Path, fmt: str, doctype: str, payload: str) -> Path:
    if fmt == "docx":
        body = f"<w:p><w:r><w:t>{BODY}</w:t></w:r></w:p><w:p><w:r><w:t>{payload}</w:t></w:r></w:p>"
        return hostile.write_zip(folder / "攻击.docx", hostile.docx_parts(hostile.docx_xml(body, doctype)))
    if fmt == "ofd":
        objects = hostile.ofd_text(BODY) + hostile.ofd_text(payload or "。", y=40)
        return hostile.write_zip(folder / "攻击.ofd", hostile.ofd_files("攻击", ["Pages/Page_0/Content.xml"], {
            "Doc_0/Pages/Page_0/Content.xml": hostile.ofd_page(objects, doctype)}))
    path = folder / "攻击.html"
    path.write_text(f"{doctype or '<!DOCTYPE html>'}<html><body><article><p>{BODY}</p><p>{payload}</p></article></body></html>",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["docx", "ofd", "html"])
@pytest.mark.parametrize("attack", list(XML_ATTACKS))
def test_xml_attacks_read_nothing_from_outside_and_expand_nothing(tmp_path, outside, listener, fmt, attack):
    url, hits = listener
    doctype, payload = XML_ATTACKS[attack](outside / "decoy.txt", url)
    path = _xml_attack_file(tmp_path, fmt, doctype, payload)
    t = time.monotonic()
    try:
        text = load(path).text
    except LoadError as e:  # refusing the file is as good: one line, naming it
        assert path.name in str(e) and "\n" not in str(e)
        text = ""
    assert SECRET not in text and "紫色大象" not in text
    assert text.count("哈") < 1000 and time.monotonic() - t < 10
    assert hits == []


@pytest.mark.slow
@needs_libreoffice
@pytest.mark.parametrize("strip", [True, False], ids=["as-built", "fields-kept"])
def test_a_remote_picture_is_never_fetched(tmp_path, listener, monkeypatch, strip):
    """INCLUDEPICTURE naming a URL: nothing is requested, whether or not the field reaches LibreOffice."""
    url, hits = listener
    if not strip:
        monkeypatch.setattr(office, "strip_rtf_fields", lambda data: data)
    ex = load(hostile.rtf_including(tmp_path / "远程.doc", f"{url}/secret.png"))
    assert "测试县科技工作要点" in ex.text and hits == []


def test_a_build_skips_each_hostile_file_by_name_and_goes_on(live, bombs, cli):
    docs = live.corpus_dir
    for name in ("docx-1GB", "ofd-200000-pages", "docx-header-lies"):
        shutil.copy(bombs[name], docs / bombs[name].name)
    (docs / "随机.doc").write_bytes(random.Random(7).randbytes(50_000))
    (docs / "乱码.txt").write_text(_junk(3000), encoding="utf-8")
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

    bad = os.fsdecode(bytes(live.corpus_dir) + "/".encode() + "测试.txt".encode("gb18030"))
    Path(bad).write_text("测试县科技工作要点\n一、目标\n建设非统一编码命名实验基地。\n", encoding="utf-8")
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0 and "Traceback" not in err, err
    assert "not valid UTF-8 (as GBK it would be '测试.txt')" in out
    code, out, err = cli("status", *where(live, model=False))
    assert code == 0 and "not valid UTF-8" in out, out + err
    code, out, err = cli("ask", "科技特派员", "--index", live.index_dir, "--mode", "bm25", "--json")
    assert code == 0 and json.loads(out)["results"], err
