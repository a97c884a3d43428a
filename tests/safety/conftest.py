"""The adversarial suite's fixtures: a live copy of the seed corpus and index, and the CLI.

`live` copies the session's seed index (tiny model) with its embedding cache, so a build in a
test embeds only the text the test adds. `cli` runs `policyqa.cli.main` in this process (the model
stays loaded); tests/support/cli.py runs the installed console script in a subprocess, for what
only a fresh process shows (tracebacks, stderr, exit codes after a crash).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.indexes import copy_of
from tests.support.seeds import SECRET


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
