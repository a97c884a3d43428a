"""Cases that already held when issue 11 was filed, kept here so none can come back.

Odd and broken files (binary renamed .txt, GB18030, BOM, truncated .docx and .pdf), upload
names with `../`, HTML in questions and file names, a build killed with SIGKILL, and two
builds at once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from policyqa.index.store import layout
from tests.support.cli import BIN, one_line_error, run, where
from tests.support.seeds import SECRET, seed_file

BODY = "测试县2023年科技工作方案\n一、总体目标\n到2025年，全县新增高新技术企业12家，{phrase}。\n"


def _ask_sources(cli, live, question) -> set[str]:
    code, out, err = cli("ask", question, "--index", live.index_dir, "--mode", "bm25", "--json", "--top-k", "10")
    assert code == 0, err
    return {r["source"] for r in json.loads(out.splitlines()[0])["results"]}


def test_odd_and_broken_files_are_read_or_skipped_by_name(live, tmp_path, cli):
    import docx
    from fpdf import FPDF

    docs = live.corpus_dir
    (docs / "二进制.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "国标.txt").write_bytes(BODY.format(phrase="建设国标编码实验基地").encode("gb18030"))
    (docs / "带BOM.txt").write_bytes(("\ufeff" + BODY.format(phrase="建设字节顺序标记园区")).replace("\n", "\r\n").encode("utf-8"))
    d = docx.Document()
    for i in range(40):
        d.add_paragraph(f"第{i}段：截断文档的正文内容。")
    d.save(tmp_path / "full.docx")
    full = (tmp_path / "full.docx").read_bytes()
    (docs / "截断.docx").write_bytes(full[: len(full) // 2])
    pdf = FPDF()
    pdf.add_font("wqy", fname="/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
    pdf.set_font("wqy", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "截断的PDF文档。")
    data = bytes(pdf.output())
    (docs / "截断.pdf").write_bytes(data[: len(data) // 3])

    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0 and "Traceback" not in err, err
    skipped = {line.split("/")[-1].split(":")[0] for line in out.splitlines() if line.startswith("  skipped:")}
    assert skipped == {"二进制.txt", "截断.docx", "截断.pdf"}, out
    assert "looks like a binary file" in out and "not a valid .docx" in out
    assert "国标.txt" in _ask_sources(cli, live, "国标编码实验基地")
    assert "带BOM.txt" in _ask_sources(cli, live, "字节顺序标记园区")


@pytest.fixture()
def app(live):
    pytest.importorskip("gradio")
    from policyqa.ui.app import build_app

    blocks = build_app(live)
    return {f.fn.__name__: f.fn for f in blocks.fns.values() if f.fn is not None}  # js-only events have none


def test_upload_names_with_dots_and_slashes_stay_in_the_folder(live, tmp_path, app):
    upload = tmp_path / "gradio-tmp"
    upload.mkdir()
    evil = upload / "..\\..\\evil.txt"  # a file name Gradio keeps as sent; backslashes are legal on Linux
    evil.write_text(BODY.format(phrase="建设上传路径测试中心"), encoding="utf-8")
    before = sorted(os.listdir(tmp_path))
    html, *_ = app["on_upload"]([str(evil)], "全部", "全部", "全部")
    assert "已加入并索引：evil.txt" in html
    assert (live.corpus_dir / "evil.txt").is_file()
    assert sorted(os.listdir(tmp_path)) == before  # nothing written beside the documents folder


def test_ui_remove_of_a_path_outside_is_refused(live, outside, app):
    html, *_ = app["on_remove"]("../outside/decoy.txt", "全部", "全部", "全部")
    assert "操作失败" in html and "outside the documents folder" in html
    assert (outside / "decoy.txt").read_text(encoding="utf-8").startswith(SECRET)


def test_html_in_questions_and_file_names_is_shown_as_text(live, app):
    name = "<img src=x onerror=alert(1)>.txt"
    (live.corpus_dir / name).write_text(BODY.format(phrase="建设跨站脚本防护中心"), encoding="utf-8")
    html, *_ = app["on_upload"]([str(live.corpus_dir / name)], "全部", "全部", "全部")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.txt" in html
    html, *_ = app["on_search"]("<script>alert(1)</script>跨站脚本防护中心", "全部", "全部", "全部", "bm25", 5)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "跨站脚本防护中心" in html and "<img src=x" not in html


def test_a_build_killed_with_sigkill_leaves_the_index_usable(live_real, cli):
    live = live_real
    before = layout.current(live.index_dir).path
    text = seed_file("岳阳").read_text(encoding="utf-8")
    for i in range(3):
        (live.corpus_dir / f"汇编{i}.txt").write_text(f"第{i}号安全测试汇编\n" + text, encoding="utf-8")
    cache = live.index_dir / "embeddings.sqlite"
    baseline = sqlite3.connect(cache).execute("SELECT count(*) FROM vectors").fetchone()[0]
    proc = subprocess.Popen([str(BIN), "build", *where(live), "--quiet"], env={**os.environ, "POLICYQA_EMBED_CHUNK": "8"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if sqlite3.connect(cache, timeout=30).execute("SELECT count(*) FROM vectors").fetchone()[0] >= baseline + 16:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the build finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert layout.current(live.index_dir).path == before
    assert _ask_sources(cli, live, "科技特派员")  # the old index still answers
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    assert "added 3" in out
    assert _ask_sources(cli, live, "第1号安全测试汇编") >= {"汇编1.txt"}


def test_two_builds_at_once_the_second_is_refused_in_one_line(live):
    from filelock import FileLock

    with FileLock(str(live.index_dir / "build.lock"), timeout=0):
        r = run("build", *where(live), "--quiet")
    assert r.returncode != 0
    assert "another build or update is running" in one_line_error(r.stderr)
    assert layout.current(live.index_dir) is not None


def test_a_ui_served_beyond_this_machine_cannot_upload_or_remove(live, tmp_path):
    """`policyqa serve --host 0.0.0.0` without --allow-writes: the page says so, and the handlers
    (callable through Gradio's queue even when hidden) change nothing."""
    from policyqa.ui.app import READ_ONLY, build_app, writes_allowed

    assert writes_allowed("127.0.0.1", False) and writes_allowed("::1", False) and writes_allowed("localhost", False)
    assert not writes_allowed("0.0.0.0", False) and not writes_allowed("192.168.1.20", False)
    assert writes_allowed("0.0.0.0", True)
    blocks = build_app(live, writes=False)
    handlers = {f.fn.__name__: f.fn for f in blocks.fns.values() if f.fn is not None}
    new = tmp_path / "新文件.txt"
    new.write_text(BODY.format(phrase="建设只读服务测试中心"), encoding="utf-8")
    indexed = sorted(os.listdir(live.corpus_dir))
    html, *_ = handlers["on_upload"]([str(new)], "全部", "全部", "全部")
    assert READ_ONLY in html and sorted(os.listdir(live.corpus_dir)) == indexed
    html, *_ = handlers["on_remove"](indexed[0], "全部", "全部", "全部")
    assert READ_ONLY in html and sorted(os.listdir(live.corpus_dir)) == indexed
    assert "--allow-writes" in blocks.get_config_file()["components"].__repr__()
