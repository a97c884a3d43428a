"""The adversarial suite's fixtures: a live copy of the seed corpus and index, and the CLI.

`live` copies the session's seed index (tiny model) with its embedding cache, so a build in a
test embeds only the text the test adds. `cli` runs `policyqa.cli.main` in this process (the model stays
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


def copy_of(built, root: Path):
    """Settings for a copy of a built corpus and index (embedding cache included) under `root`."""
    shutil.copytree(built.corpus_dir, root / "documents")
    shutil.copytree(built.index_dir, root / "index", ignore=shutil.ignore_patterns("build.lock"))
    return built.with_(corpus_dir=root / "documents", index_dir=root / "index")


@pytest.fixture()
def live(tmp_path, tiny_settings):
    """The seed corpus indexed with the tiny model: these cases are about files and paths, not ranking
    (questions in them use bm25 or exact phrases), so they run in the fast tier."""
    return copy_of(tiny_settings, tmp_path)


@pytest.fixture()
def live_real(tmp_path, seed_settings):
    """The same with m3e-small, for what needs the real model (its name, a build slow enough to kill)."""
    return copy_of(seed_settings, tmp_path)


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


def where(settings, model: bool = True) -> list[str]:
    """The flags that point a command at `settings`' folders and model (`status` takes no model)."""
    folders = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    return folders + (["--model", settings.model] if model else [])


def one_line_error(stderr: str) -> str:
    """The single stderr line of a refused command (asserting there is exactly one, and no traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]
