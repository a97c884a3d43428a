"""Files built to leak what is outside them: a picture pulled in from the server's disk, random
bytes named .doc, a web page or .docx under a .doc name, LibreOffice out of time, text that is not
text, and the XML attacks that already held. Every hostile file is generated here, small."""

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

from policyqa.corpus import office
from policyqa.corpus.limits import ReadLimits
from policyqa.corpus.loaders import LoadError, load
from policyqa.corpus.plausible import text_problem
from policyqa.corpus.reader import MAX_DOCUMENT_CHARS
from policyqa.corpus.types import LoadOptions
from tests.support import formats as make_files
from tests.support import hostile
from tests.support.cli import where
from tests.support.hostile import leaked, needs_font, needs_libreoffice, refused
from tests.support.seeds import SECRET, SEEDS

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

def _random_han(n: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0x9FA6)) + ("。\n" if i % 40 == 39 else "") for i in range(n))


@pytest.mark.parametrize("fmt", ["txt", "html", "docx", "ofd"])
@pytest.mark.parametrize("make,why", [(hostile.junk, "of its characters are letters, digits, Chinese or punctuation"),
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
