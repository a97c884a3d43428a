"""Smaller cases: the default model's full name, rebuild hints, pypdf's complaints, odd file names, huge files."""

from __future__ import annotations

import json
import re

import pytest

from policyqa.config import DEFAULT_MODEL
from policyqa.encode.models import KNOWN
from tests.support.cli import one_line_error, where

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def test_the_default_models_full_name_is_the_default(live_real, cli):
    """intfloat/multilingual-e5-small, as its model card names it, is the index's e5-small: nothing re-embedded."""
    live = live_real
    full = KNOWN[DEFAULT_MODEL].aliases[-1]
    assert "/" in full  # the hub name, not another short one
    code, out, err = cli("ask", "科技特派员", "--index", live.index_dir, "--model", full, "--json", "--top-k", "1")
    assert code == 0, err
    assert json.loads(out)["results"]
    code, out, err = cli("build", "--corpus", live.corpus_dir, "--index", live.index_dir, "--model", full, "--quiet")
    assert code == 0, err
    assert "model changed" not in out and "newly embedded" in out and "(0 newly embedded)" in out


def test_the_re_embed_hint_names_the_corpus_it_was_built_from(tiny_settings, cli):
    """The index was built from a temporary folder, not ./documents: a bare build would index the wrong one."""
    code, _, err = cli("ask", "科技特派员", "--index", tiny_settings.index_dir, "--model", "some/other-model")
    line = one_line_error(err)
    assert code != 0
    hint = line.split("re-embed with: ", 1)[1]
    corpus = tiny_settings.corpus_dir.resolve()
    assert hint == f"policyqa build --index {tiny_settings.index_dir} --corpus {corpus} --model some/other-model"


def _pdf_bytes() -> bytes:
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_font("wqy", fname=CJK_FONT)
    pdf.set_font("wqy", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "测试县科技工作方案\n一、总体目标\n到2025年，全县新增高新技术企业12家。")
    pdf.add_page()
    pdf.multi_cell(0, 8, "第二页：设立科技特派员工作站3个。")
    return bytes(pdf.output())


@pytest.mark.slow  # a fresh process
def test_pypdf_complaints_stay_off_stderr_and_a_lost_page_is_reported(live):
    """In a fresh process: pypdf logs through the root logger's last-resort handler to stderr."""
    from tests.support.cli import run

    data = _pdf_bytes()
    at = data.rindex(b"startxref")
    (live.corpus_dir / "xref.pdf").write_bytes(data[:at] + b"startxref\n12345\n%%EOF\n")  # recoverable: warned about
    streams = [m.end() for m in re.finditer(rb"stream\n", data)]
    broken = bytearray(data)
    broken[streams[2]:streams[2] + 60] = b"\xff" * 60  # page 2's content stream is garbage
    (live.corpus_dir / "page2.pdf").write_bytes(bytes(broken))
    r = run("build", *where(live), "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""
    assert "  + xref.pdf" in r.stdout and "  + page2.pdf" in r.stdout
    warnings = [x for x in r.stdout.splitlines() if x.startswith("  warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("  warning: page2.pdf: 1 unreadable page(s) left out: page 2 (")


def test_a_newline_in_a_file_name_stays_on_its_line(live, cli):
    name = "换行\n伪造: 行.txt"
    (live.corpus_dir / name).write_text("测试县科技工作要点\n一、换行测试\n文件名中含有换行符的文档。\n", encoding="utf-8")
    (live.corpus_dir / "空\x1b[31m.txt").write_bytes(b"")
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    lines = out.splitlines()
    assert "  + 换行\\n伪造: 行.txt" in lines
    assert any(x.startswith("  skipped: ") and "空\\x1b[31m.txt" in x for x in lines)
    assert not any(x.startswith("伪造") for x in lines) and "\x1b" not in out
    code, out, err = cli("status", *where(live, model=False))
    assert code == 0 and "\x1b" not in out and not any(x.startswith("伪造") for x in out.splitlines())


def test_a_text_too_long_to_index_is_skipped_with_the_reason(live, cli):
    big = live.corpus_dir / "巨大.txt"
    big.write_text("测试县科技工作。\n" * 350_000, encoding="utf-8")  # 3,150,000 characters
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("  skipped:"))
    assert "巨大.txt: too long to index (3,150,000 characters of text, the limit is 3,000,000)" in line
    assert "unchanged 5" in out
