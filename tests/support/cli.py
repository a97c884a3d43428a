"""The command line as a user meets it: the installed console script in a fresh process, its flags, its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "policyqa"


def run(*args, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """The installed `policyqa` in a subprocess: for what only a fresh process shows (tracebacks,
    stderr, exit codes after a crash)."""
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
