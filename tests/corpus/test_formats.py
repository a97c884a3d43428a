"""The formats government websites post: scans (OCR), .doc, .wps, .ofd, and tables in .docx/.pdf/.html.

Every file is generated here; a small index is built over them with the real model and a fact
question about each is answered with that file's passage first.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from policyqa.corpus.loaders import load
from policyqa.corpus.reader import FileEntry, read_document
from policyqa.corpus.sections import ChunkParams, passages
from policyqa.corpus.types import LoadOptions
from policyqa.errors import LoadError
from tests.support import formats
from tests.support.scans import CJK_FONT, char_accuracy, render_pages, write_scanned_pdf
from tests.support.seeds import printed_text

needs_font = pytest.mark.skipif(not CJK_FONT.exists(), reason="needs fonts-wqy-zenhei (installed by scripts/setup.sh --dev)")
needs_libreoffice = pytest.mark.skipif(
    shutil.which("soffice") is None, reason="needs LibreOffice (apt-get install libreoffice-writer-nogui; scripts/setup.sh does)"
)

DOC_BODY = ["为加快农业科技成果转化，现制定本方案。", "一、主要目标", "到2024年底，全县建设农业科技示范基地15个，培训新型职业农民800人次。",
            "二、保障措施", "县农业农村局负责统筹协调。"]
WPS_BODY = ["第一条 为规范科技特派员选派和管理，制定本办法。", "第二条 每名科技特派员每年驻村服务时间不少于60天，并建立服务台账。",
            "第三条 本办法自印发之日起施行。"]
OFD_PAGES = [
    ["测试市2024年数字政府建设工作要点", "一、建设目标",
     "建成政务服务一体化平台，接入政务服务事项1280项，全程网办率达到90%以上，让企业和群众办事少跑腿。"],
    ["二、保障措施", "市政务服务和大数据管理局牵头，各部门按职责分工抓好落实，年底前完成电子证照共享应用。"],
]
PDF_TABLE = [["项目名称", "建设地点", "投资（亿元）"], ["东湖泵站改造", "城关镇", "3.2"], ["西河堤防加固", "马坪镇", "1.8"]]


def seed_scan_text(chars: int = 700) -> str:
    """The start of a real seed document (广水's 2022 plan), as it would be printed."""
    return printed_text("广水", chars)


def docx_table(folder: Path) -> Path:
    return formats.write_docx(
        folder / "科技项目资金分配表.docx", "测试县2023年科技项目资金分配表", ["根据县政府常务会议决定，2023年科技项目资金分配如下。"],
        [formats.TABLE_HEADER] + formats.TABLE_ROWS, ["以上资金由县财政局于2023年6月底前拨付到位。"])


def pdf_table(folder: Path) -> Path:
    return formats.write_table_pdf(
        folder / "重点水利工程项目清单.pdf", "测试县2024年重点水利工程项目清单", "经县政府研究，确定以下重点水利工程项目。", PDF_TABLE,
        "各项目于2024年底前开工建设。")


def ofd_file(folder: Path) -> Path:
    return formats.write_ofd(folder / "数字政府建设工作要点.ofd", OFD_PAGES[0][0], OFD_PAGES)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Every fixture file once per module; `corpus/` holds the ones the index test builds over."""
    if not CJK_FONT.exists():
        pytest.skip("needs fonts-wqy-zenhei (installed by scripts/setup.sh --dev)")
    root = tmp_path_factory.mktemp("formats")
    corpus = root / "corpus"
    corpus.mkdir()
    out = {"corpus": corpus}
    write_scanned_pdf(corpus / "广水-科技创新工作方案-扫描件.pdf", seed_scan_text(), dpi=300)
    out["scan300"] = corpus / "广水-科技创新工作方案-扫描件.pdf"
    out["scan150"] = root / "scan150.pdf"
    write_scanned_pdf(out["scan150"], seed_scan_text(), dpi=150)
    out["docx_table"] = docx_table(corpus)
    out["pdf_table"] = pdf_table(corpus)
    out["ofd"] = ofd_file(corpus)
    if shutil.which("soffice"):
        src = formats.write_docx(root / "农业.docx", "测试县农业科技推广工作方案", DOC_BODY)
        out["doc"] = formats.libreoffice_convert(src, corpus / "农业科技推广工作方案.doc")
        src = formats.write_docx(root / "特派员.docx", "测试县科技特派员管理办法", WPS_BODY)
        out["wps"] = formats.libreoffice_convert(src, corpus / "科技特派员管理办法.wps")
    return out


# --- scans -------------------------------------------------------------------------------------

@pytest.mark.slow  # OCR of four A4 pages
@pytest.mark.parametrize("dpi,floor", [(300, 0.98), (150, 0.95)])
def test_scanned_pdf_is_read_by_ocr_under_a_red_seal(files, dpi, floor):
    ex = load(files[f"scan{dpi}"])
    source = seed_scan_text()
    assert char_accuracy(ex.text, source) >= floor
    assert "新认定高新技术企业10家" in ex.text
    assert "广政办函〔2022〕8号" in ex.text  # the 文号 line under the seal, brackets as printed
    assert [(r.page, r.ocr) for r in ex.regions] == [(1, True), (2, True)]  # the text runs onto a second page
    ps = passages("x", ex, "广水市2022年科技创新工作方案")
    assert ps and all(p.ocr for p in ps) and {p.page for p in ps} <= {1, 2}


@needs_font
def test_scanned_pdf_with_ocr_off_is_skipped_with_the_reason(tmp_path):
    path = tmp_path / "scan150.pdf"
    write_scanned_pdf(path, seed_scan_text(200), dpi=150)
    with pytest.raises(LoadError) as e:
        load(path, LoadOptions(ocr=False))
    msg = str(e.value)
    assert "scan150.pdf" in msg and "--no-ocr" in msg and "\n" not in msg


@pytest.mark.slow
@needs_font
def test_text_pages_are_never_ocred_and_every_page_is_numbered(tmp_path):
    """Page 1 has a text layer (kept exactly), page 2 is a scan (OCRed); both carry their page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("wqy", fname=str(CJK_FONT))
    pdf.set_font("wqy", size=12)
    pdf.add_page()
    typed = "测试县科技工作方案\n一、总体目标\n到2025年，全县新增高新技术企业12家。"
    pdf.multi_cell(0, 8, typed)
    images, _ = render_pages("二、保障措施\n县财政每年安排科技专项资金500万元。", dpi=200, seal=False)
    pdf.add_page()
    pdf.image(images[0], x=0, y=0, w=210, h=297)
    path = tmp_path / "mixed.pdf"
    pdf.output(str(path))
    ex = load(path)
    assert [(r.page, r.ocr) for r in ex.regions] == [(1, False), (2, True)]
    first = ex.text[ex.regions[0].start : ex.regions[0].end]
    assert first == typed  # the text layer, not a recognised copy of it
    assert "科技专项资金500万元" in ex.text[ex.regions[1].start :]
    by_page = {p.page: p.ocr for p in passages("x", ex, "测试县科技工作方案")}
    assert by_page == {1: False, 2: True}


@pytest.mark.slow
@needs_font
def test_picture_in_a_docx_is_read_by_ocr_where_it_stands(tmp_path):
    import docx

    images, _ = render_pages("关于申报2024年度科技计划项目的通知\n申报截止时间为2024年3月15日。", dpi=150, seal=False)
    crop = images[0].crop((0, 0, images[0].width, images[0].height // 4))
    buf = io.BytesIO()
    crop.save(buf, "PNG")
    buf.seek(0)
    d = docx.Document()
    d.add_paragraph("附件一为扫描的通知原文：")
    d.add_picture(buf)
    d.add_paragraph("请各单位按时申报。")
    path = tmp_path / "with-picture.docx"
    d.save(path)
    ex = load(path)
    assert "2024年3月15日" in ex.text
    assert ex.text.index("附件一") < ex.text.index("2024年3月15日") < ex.text.index("请各单位按时申报")
    assert [r.ocr for r in ex.regions] == [True]
    assert "2024年3月15日" not in load(path, LoadOptions(ocr=False)).text


# --- .doc, .wps, .ofd --------------------------------------------------------------------------

@pytest.mark.slow
@needs_libreoffice
@pytest.mark.parametrize("kind,body,title", [
    ("doc", DOC_BODY, "测试县农业科技推广工作方案"), ("wps", WPS_BODY, "测试县科技特派员管理办法"),
])
def test_doc_and_wps_read_through_libreoffice(files, kind, body, title):
    ex = load(files[kind])
    assert ex.title == title
    for line in body:
        assert line in ex.text


def test_doc_without_libreoffice_is_skipped_with_the_fix(tmp_path, monkeypatch):
    p = tmp_path / "old.doc"
    p.write_bytes(b"\xd0\xcf\x11\xe0 not really a doc")
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on this PATH: what a machine without LibreOffice sees
    with pytest.raises(LoadError) as e:
        load(p)
    msg = str(e.value)
    assert "old.doc" in msg and "LibreOffice" in msg and "apt-get install" in msg and "\n" not in msg


@pytest.mark.slow  # starts LibreOffice
@needs_libreoffice
def test_corrupt_doc_fails_with_file_name_and_reason(tmp_path):
    p = tmp_path / "broken.wps"
    p.write_bytes(b"\x00\x01 garbage that no word processor wrote" * 20)
    with pytest.raises(LoadError) as e:
        load(p)
    msg = str(e.value)
    assert "broken.wps" in msg and "LibreOffice" in msg and "\n" not in msg


def test_ofd_text_in_reading_order_with_pages(tmp_path):
    ex = load(ofd_file(tmp_path))
    assert ex.title == OFD_PAGES[0][0]
    for page in OFD_PAGES:
        for line in page:
            assert line in ex.text  # one character per object, listed out of order, and lines wrapped
    assert [r.page for r in ex.regions] == [1, 2]
    page2 = ex.text[ex.regions[1].start : ex.regions[1].end]
    assert page2.startswith("二、保障措施") and "电子证照" in page2


@pytest.mark.parametrize("data,reason", [(b"PK\x03\x04 not a zip", "not a valid .ofd"), (b"", "not a valid .ofd")])
def test_bad_ofd_fails_with_file_name_and_reason(tmp_path, data, reason):
    p = tmp_path / "bad.ofd"
    p.write_bytes(data)
    with pytest.raises(LoadError) as e:
        load(p)
    assert "bad.ofd" in str(e.value) and reason in str(e.value)


# --- tables ------------------------------------------------------------------------------------

def test_docx_table_rows_carry_their_headers_in_document_order(tmp_path):
    ex = load(docx_table(tmp_path))
    assert "序号：2；项目名称：新材料研发中心；承担单位：县科技局；金额：850万元" in ex.text.splitlines()
    assert ex.text.index("分配如下") < ex.text.index("智能装备产业园") < ex.text.index("拨付到位")
    assert len(ex.rows) == 1 + len(formats.TABLE_ROWS)


@needs_font
def test_pdf_table_rows_carry_their_headers(tmp_path):
    ex = load(pdf_table(tmp_path))
    lines = ex.text.splitlines()
    assert "项目名称：东湖泵站改造；建设地点：城关镇；投资：3.2亿元" in lines
    assert ex.text.index("确定以下") < ex.text.index("东湖泵站改造") < ex.text.index("开工建设")
    assert {r.page for r in ex.regions} == {1}


def test_html_data_table_as_rows_layout_table_left_alone(tmp_path):
    p = tmp_path / "a.html"
    p.write_text(
        "<html><body><table><tr><td><div class='content'><h2>资金安排</h2><p>2023年专项资金安排如下。</p>"
        "<table><tr><th>项目名称</th><th>金额（万元）</th></tr><tr><td>智能装备产业园</td><td>1200</td></tr>"
        "<tr><td>新材料研发中心</td><td>850</td></tr></table><p>请抓好落实。</p></div></td></tr></table></body></html>",
        encoding="utf-8",
    )
    ex = load(p)
    assert ex.text.splitlines() == ["资金安排", "2023年专项资金安排如下。", "项目名称；金额（万元）",
                                    "项目名称：智能装备产业园；金额：1200万元", "项目名称：新材料研发中心；金额：850万元", "请抓好落实。"]


def test_table_never_split_mid_row(tmp_path):
    rows = [["项目名称", "承担单位", "金额（万元）"]]
    rows += [[f"第{i}号科技攻关项目", f"第{i}承担单位；联合体", str(100 + i)] for i in range(30)]
    path = formats.write_docx(tmp_path / "t.docx", "测试县项目清单", ["说明。"], rows)
    ex = load(path)
    ps = passages("x", ex, "测试县项目清单", ChunkParams(max_chars=120))
    assert len(ps) > 5
    for a, b in ex.rows:
        holding = [p for p in ps if p.start <= a and b <= p.end]
        assert len(holding) == 1, ex.text[a:b]  # each row inside exactly one passage, whole


# --- end to end: build an index over the fixtures and ask ---------------------------------------

QUESTIONS = [
    ("广水市2022年力争新认定高新技术企业多少家", "scan300", "新认定高新技术企业10家"),
    ("新材料研发中心分配了多少资金", "docx_table", "新材料研发中心"),
    ("东湖泵站改造工程投资多少", "pdf_table", "东湖泵站改造"),
    ("政务服务一体化平台接入了多少项政务服务事项", "ofd", "1280项"),
    ("全县建设多少个农业科技示范基地", "doc", "示范基地15个"),
    ("科技特派员每年驻村服务时间不少于多少天", "wps", "不少于60天"),
]


@pytest.fixture(scope="module")
def formats_index(files, tmp_path_factory):
    from policyqa.config import Settings
    from policyqa.index.build import build
    from policyqa.qa.search import Searcher

    settings = Settings().with_(corpus_dir=files["corpus"], index_dir=tmp_path_factory.mktemp("formats-index"))
    report = build(settings, progress=False)
    return report, Searcher(settings)


@pytest.mark.slow
@pytest.mark.parametrize("question,key,evidence", QUESTIONS, ids=[q[1] for q in QUESTIONS])
def test_fact_question_about_each_format_finds_its_passage_first(files, formats_index, question, key, evidence):
    if key not in files:
        pytest.skip("needs LibreOffice (apt-get install libreoffice-writer-nogui; scripts/setup.sh does)")
    report, searcher = formats_index
    assert not report.skipped, report.summary()
    top = searcher.ask(question).hits[0]
    assert top.source == files[key].name and evidence in top.text
    if key in ("scan300", "pdf_table", "ofd"):
        assert top.page == 1 and f"第{top.page}页" in top.citation and top.to_json()["page"] == 1
    assert top.ocr == (key == "scan300") and ("OCR" in top.citation) == (key == "scan300")


@pytest.mark.slow
def test_no_ocr_build_skips_the_scan_and_says_why(files, tmp_path):
    from policyqa.config import Settings
    from policyqa.index.build import build

    corpus = tmp_path / "docs"
    corpus.mkdir()
    shutil.copy(files["scan150"], corpus / "scan.pdf")
    shutil.copy(files["ofd"], corpus / "ofd.ofd")
    report = build(Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index", ocr=False), progress=False)
    assert report.documents == 1 and [s.source for s in report.skipped] == ["scan.pdf"]
    assert "--no-ocr" in report.summary()


def test_read_document_passes_page_and_ocr_mark_to_passages(tmp_path):
    path = ofd_file(tmp_path)
    entry = FileEntry(path.name, path, "id", path.stat().st_size)
    doc = read_document(entry, ChunkParams())
    assert {p.page for p in doc.passages} == {1, 2} and not any(p.ocr for p in doc.passages)
