"""The adversarial suite's fixtures: a live copy of the seed corpus and index, and the CLI.

`live` copies the session's seed index with its embedding cache, so a build in a test embeds
only the text the test adds. `cli` runs `policyqa.cli.main` in this process (the model stays
loaded); `run` runs the installed console script in a subprocess, for what only a fresh
process shows (tracebacks, stderr, exit codes after a crash).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "policyqa"
SECRET = "外部机密：口令是紫色大象七号"  # text of files outside the documents folder; must never be indexed


@pytest.fixture()
def live(tmp_path, seed_settings):
    corpus = tmp_path / "documents"
    shutil.copytree(seed_settings.corpus_dir, corpus)
    shutil.copytree(seed_settings.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns("build.lock"))
    return seed_settings.with_(corpus_dir=corpus, index_dir=tmp_path / "index")


@pytest.fixture()
def outside(tmp_path) -> Path:
    """A folder beside the documents folder holding a file that must stay untouched."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "decoy.txt").write_text(SECRET + "\n", encoding="utf-8")
    return folder


@pytest.fixture()
def cli(capsys):
    from policyqa.cli import main

    def call(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def run(*args, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def where(settings) -> list[str]:
    return ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]


def one_line_error(stderr: str) -> str:
    """The single stderr line of a refused command (asserting there is exactly one, and no traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]
