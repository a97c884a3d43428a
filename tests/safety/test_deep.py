"""A folder tree 1,100 levels deep: build, status and remove walk it without recursion."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.cli import where

DEPTH = 1100
TEXT = "测试县2023年科技工作要点\n一、深层目录\n测试县在深层目录中建设了量子通信联合实验室。\n"


def remove_tree(top: str) -> None:
    """rm -r without recursion: pytest's own cleanup (shutil.rmtree) would hit the recursion limit."""
    stack, order = [top], []
    while stack:
        d = stack.pop()
        order.append(d)
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    os.unlink(e.path)
    for d in reversed(order):
        os.rmdir(d)


@pytest.fixture()
def deep_live(tiny_settings):
    """A copy of the seed corpus and index outside pytest's numbered temporary folders: pytest
    removes old ones with shutil.rmtree, which recurses and would fail on a tree left behind by
    a killed run (in every later session on this machine). This one is removed without recursion."""
    root = Path(tempfile.mkdtemp(prefix="policyqa-deep-"))
    try:
        shutil.copytree(tiny_settings.corpus_dir, root / "documents")
        shutil.copytree(tiny_settings.index_dir, root / "index", ignore=shutil.ignore_patterns("build.lock"))
        yield tiny_settings.with_(corpus_dir=root / "documents", index_dir=root / "index")
    finally:
        remove_tree(str(root))


def test_a_very_deep_tree_builds_and_reports(deep_live, cli):
    live = deep_live
    rel = "/".join(["d"] * DEPTH)
    folder = str(live.corpus_dir / "deep")
    os.mkdir(folder)
    for _ in range(DEPTH):  # os.makedirs itself recurses once per level
        folder = os.path.join(folder, "d")
        os.mkdir(folder)
    with open(os.path.join(folder, "深处.txt"), "w", encoding="utf-8") as f:
        f.write(TEXT)
    source = f"deep/{rel}/深处.txt"

    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    assert f"  + {source}" in out.splitlines()

    code, out, err = cli("status", *where(live, model=False))
    assert code == 0, err
    assert "not indexed yet: 0" in out and "skipped" not in out

    code, out, err = cli("remove", source, *where(live), "--quiet")
    assert code == 0, err
    assert f"  - {source}" in out.splitlines()
    assert (live.corpus_dir / ".removed").is_dir() and not os.path.exists(os.path.join(folder, "深处.txt"))
