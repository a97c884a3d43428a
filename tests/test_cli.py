"""The CLI contract, through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KEYS = {"rank", "score", "text", "source", "doc_id", "title", "city", "year", "doc_type", "section", "start", "end"}
BIN = Path(sys.executable).parent / "policyqa"


def run(*args, env=None):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_json_contract_for_a_questions_file(seed_settings, tmp_path):
    qfile = tmp_path / "q.txt"
    qfile.write_text("哪些城市设立了科技特派员工作站\n\n咸宁2021年的科技工作要点文号\n", encoding="utf-8")
    r = run("ask", "--questions", str(qfile), "--index", str(seed_settings.index_dir), "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["question"] for x in lines] == ["哪些城市设立了科技特派员工作站", "咸宁2021年的科技工作要点文号"]
    first = lines[0]["results"][0]
    assert set(first) >= KEYS and first["rank"] == 1 and first["city"] == "荆州市"
    assert first["source"].startswith("荆州-") and " > " in first["section"]
    text = (seed_settings.corpus_dir / first["source"]).read_text(encoding="utf-8")
    assert text[first["start"] : first["end"]] == first["text"]


def test_readable_output_has_citation_lines(seed_settings):
    r = run("ask", "哪些城市设立了科技特派员工作站", "--index", str(seed_settings.index_dir), "--top-k", "2")
    assert r.returncode == 0, r.stderr
    assert "《激发科技创新活力" in r.stdout and "荆州市" in r.stdout and "字" in r.stdout
    assert "【开展科技特派员工作站建设试点" in r.stdout  # the answering sentence is marked


@pytest.mark.parametrize(
    "args,message",
    [
        (["ask", "   "], "问题为空"),
        (["ask", "科技", "--mode", "fuzzy"], "unknown mode"),
        (["ask", "科技", "--index", "/nonexistent/index"], "policyqa build"),
    ],
)
def test_errors_are_one_line_and_nonzero(seed_settings, args, message):
    if "--index" not in args:
        args = [*args, "--index", str(seed_settings.index_dir)]
    r = run(*args)
    assert r.returncode != 0
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # a fresh process
def test_build_of_an_empty_folder_fails_clearly(tmp_path):
    (tmp_path / "docs").mkdir()
    r = run("build", "--corpus", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--quiet")
    assert r.returncode != 0 and "no readable documents" in r.stderr
