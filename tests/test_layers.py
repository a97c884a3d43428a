"""The house rules a newcomer relies on: one namespace, imports that only run downstream.

Data flows corpus → encode → index → qa → ui/eval, with the CLI on top; a lower stage that
imported a higher one (or the CLI) would make each stage impossible to test or reuse alone.
Inside index/, the on-disk store does not import the backends built on it. Only the CLI reads
the environment. docs/architecture.md states the same rule.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = {"config", "errors"}  # configuration and the error classes, below every stage
# each stage may import itself, the shared modules and the stages listed
ALLOWED = {
    "corpus": {"corpus"} | SHARED,
    "encode": {"encode", "corpus"} | SHARED,
    "index": {"index", "encode", "corpus"} | SHARED,
    "qa": {"qa", "index", "encode", "corpus"} | SHARED,
    "ui": {"ui", "qa", "index", "encode", "corpus"} | SHARED,
    "eval": {"eval", "qa", "index", "encode", "corpus"} | SHARED,
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_imports_run_one_way(stage):
    wrong = []
    for path in sorted((REPO / stage).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] in ALLOWED:  # a bare `import index` would bypass the namespace
                wrong.append(f"{path.relative_to(REPO)}: import {name} (use policyqa.{name})")
            elif parts[0] == "policyqa" and len(parts) > 1 and parts[1] not in ALLOWED[stage]:
                wrong.append(f"{path.relative_to(REPO)}: imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_store_does_not_import_the_backends():
    """Segments, commits and the embedding cache stand alone: a backend is built on them, never the reverse."""
    wrong = [f"{path.relative_to(REPO)}: imports {name}" for path in sorted((REPO / "index" / "store").rglob("*.py"))
             for name in _imports(path) if name.startswith("policyqa.index.backends")]
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_reads_the_environment():
    readers = [str(p.relative_to(REPO)) for stage in ALLOWED for p in (REPO / stage).rglob("*.py")
               if "os.environ" in p.read_text(encoding="utf-8") or "getenv" in p.read_text(encoding="utf-8")]
    assert readers == [] or readers == ["eval/tune.py"], readers  # tune is a command line of its own


def test_stages_install_under_one_namespace(tmp_path):
    """Outside the repository (where the current folder is not on the path), only policyqa is installed."""
    code = ("import importlib.util as u; "
            f"print([s for s in {sorted(ALLOWED)!r} if u.find_spec(s) or not u.find_spec('policyqa.' + s)])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
