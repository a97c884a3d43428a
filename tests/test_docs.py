"""The README stays a short start for a newcomer; everything else lives in the MkDocs site in docs/.

The README holds at most 250 lines and opens with the two commands a fresh clone runs; its relative
links resolve; `mkdocs build --strict` passes (strict mode fails on a link or anchor between pages
that does not resolve).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_LINES = 250
# the two commands, exactly as a fresh clone runs them: set up, build and serve; set up --dev and test
COMMANDS = [
    "bash scripts/setup.sh && .venv/bin/policyqa build && .venv/bin/policyqa serve",
    "bash scripts/setup.sh --dev && .venv/bin/python -m pytest -q",
]
# [text](target) outside code; the target ends at whitespace or the closing parenthesis
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _text_outside_code(markdown: str) -> str:
    """The README without fenced or indented code blocks and inline code, where [x](y) is not a link."""
    kept, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    ") or line.startswith("\t"):
            continue
        kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; at most {MAX_LINES} (move detail to docs/)"
    head = [line.strip() for line in lines[:10]]
    for command in COMMANDS:
        assert command in head, f"the first 10 lines of README.md must hold the command line: {command}"
    assert head.index(COMMANDS[0]) < head.index(COMMANDS[1])


def test_readme_relative_links_resolve():
    targets = LINK.findall(_text_outside_code(README.read_text(encoding="utf-8")))
    relative = [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I) and not t.startswith("#")]
    assert relative, "README.md links to no docs/ page"
    missing = [t for t in relative if not (REPO / unquote(t.split("#", 1)[0])).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it is in the dev extra: pip install -e '.[dev]')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
