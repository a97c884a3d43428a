"""Every loader on a real small file of its kind; bad files fail with a clear one-line reason."""

from __future__ import annotations

import pytest

from policyqa.corpus.loaders import load
from policyqa.corpus.reader import read_corpus
from policyqa.errors import LoadError
from tests.support.scans import CJK_FONT

BODY = "一、总体目标\n到2025年，全县新增高新技术企业12家，设立科技特派员工作站3个。\n二、保障措施\n加强组织领导。"


def test_txt_utf8_bom_and_crlf(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(("\ufeff测试县科技工作方案\r\n" + BODY.replace("\n", "\r\n")).encode("utf-8"))
    ex = load(p)
    assert ex.text.startswith("测试县科技工作方案\n一、总体目标")
    assert "\r" not in ex.text and "\ufeff" not in ex.text


def test_txt_gb18030_detected(tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes(("测试县科技工作方案\n" + BODY).encode("gb18030"))
    assert "设立科技特派员工作站3个" in load(p).text


def test_markdown_headings(tmp_path):
    p = tmp_path / "a.md"
    p.write_text("# 测试县科技工作方案\n\n## 总体目标\n\n新增高新技术企业12家。\n\n## 保障措施\n\n加强组织领导。\n", encoding="utf-8")
    ex = load(p)
    assert ex.title == "测试县科技工作方案"
    assert [h.text for h in ex.headings] == ["测试县科技工作方案", "总体目标", "保障措施"]


def test_html_main_text_without_menus(tmp_path):
    p = tmp_path / "a.html"
    p.write_text(
        "<html><head><title>测试县科技工作方案</title></head><body>"
        "<nav><a>首页</a><a>政务公开</a><a>网站地图</a></nav>"
        "<div class='content'><h2>总体目标</h2><p>新增高新技术企业12家。</p><p>设立科技特派员工作站3个。</p></div>"
        "<footer>版权所有 测试县人民政府 备案号</footer></body></html>",
        encoding="utf-8",
    )
    ex = load(p)
    assert "新增高新技术企业12家。" in ex.text and "设立科技特派员工作站3个。" in ex.text
    assert "网站地图" not in ex.text and "版权所有" not in ex.text
    assert [h.text for h in ex.headings] == ["总体目标"]


def test_docx_paragraphs_and_heading_styles(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("测试县科技工作方案", level=0)
    d.add_heading("总体目标", level=1)
    d.add_paragraph("新增高新技术企业12家。")
    d.add_heading("保障措施", level=1)
    d.add_paragraph("加强组织领导。")
    p = tmp_path / "a.docx"
    d.save(p)
    ex = load(p)
    assert ex.title == "测试县科技工作方案"
    assert [(h.level, h.text) for h in ex.headings if h.level] == [(1, "总体目标"), (1, "保障措施")]
    assert "新增高新技术企业12家。" in ex.text


@pytest.mark.skipif(not CJK_FONT.exists(), reason="needs fonts-wqy-zenhei (installed by scripts/setup.sh --dev)")
def test_pdf_text_layer(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("wqy", fname=str(CJK_FONT))
    pdf.set_font("wqy", size=12)
    pdf.multi_cell(0, 8, "测试县科技工作方案\n" + BODY)
    p = tmp_path / "a.pdf"
    pdf.output(str(p))
    assert "设立科技特派员工作站3个" in load(p).text


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.txt", b"", "empty"),
        ("binary.txt", b"\x00\x01\x02PNG\x00" * 50, "binary"),
        ("latin.txt", bytes(range(128, 256)) * 20, "UTF-8 or GB18030"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "docx"),
        ("broken.pdf", b"%PDF-1.4\n garbage", "pdf"),
    ],
)
def test_bad_files_fail_with_file_name_and_reason(tmp_path, name, data, reason):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(LoadError) as e:
        load(p)
    msg = str(e.value)
    assert name in msg and reason.lower() in msg.lower() and "\n" not in msg


def test_corpus_skips_bad_files_and_keeps_good_ones(tmp_path):
    (tmp_path / "good.txt").write_text("测试县科技工作方案\n" + BODY, encoding="utf-8")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\n garbage")
    (tmp_path / "notes.xyz").write_text("?", encoding="utf-8")
    docs, skipped = read_corpus(tmp_path)
    assert [d.source for d in docs] == ["good.txt"]
    assert {s.source for s in skipped} == {"bad.pdf", "notes.xyz"}
