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
SHARED = {"config", "errors", "exports"}  # configuration, the error classes, lazy exports: below every stage
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


def _private_uses(path: Path) -> list[str]:
    """`from policyqa.x import _name`, and `_name` read off a policyqa module imported by name
    (`from policyqa.encode import tokenizer` … `tokenizer._tokenizer`), in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: dict[str, str] = {}  # local name → the policyqa module or name it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("policyqa"):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: from {node.module} import {a.name}")
                modules[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("policyqa"):
                    modules[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {modules[node.value.id]}.{node.attr}")
    return found


@pytest.mark.parametrize("folder", [*sorted(ALLOWED), "policyqa", "bench"])  # tests/ are exempt
def test_no_private_name_is_used_from_another_module(folder):
    """A leading underscore means "only this module relies on it": no other module imports it or
    reads it off the module, so it can change without breaking a neighbour."""
    wrong = [use for path in sorted((REPO / folder).rglob("*.py")) for use in _private_uses(path)]
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
