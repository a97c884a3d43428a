"""Paths a user gives: nothing outside the documents folder is read, moved or overwritten.

Each refusal is one line on stderr naming the path, a non-zero exit, and no change on disk.
None of these needs an index: the check comes before any build.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policyqa.config import Settings
from tests.support.cli import one_line_error, run
from tests.support.seeds import SECRET


@pytest.fixture()
def folder(tmp_path) -> Settings:
    corpus = tmp_path / "documents"
    corpus.mkdir()
    (corpus / "本地文件.txt").write_text("测试县科技工作要点\n一、加强创新\n建设实验室。\n", encoding="utf-8")
    return Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("given", [
    "../outside/decoy.txt",                 # one level up
    "sub/../../outside/decoy.txt",          # climbing out through a folder that need not exist
    "../../{tmp}/outside/decoy.txt",        # two levels up and back down
    "{tmp}/outside/decoy.txt",              # absolute, outside
])
def test_remove_refuses_paths_outside_the_folder(folder, outside, tmp_path, cli, given):
    given = given.format(tmp=tmp_path.name if given.startswith("../..") else tmp_path)
    before = _snapshot(tmp_path)
    code, out, err = cli("remove", given, "--corpus", folder.corpus_dir, "--index", folder.index_dir, "--quiet")
    assert code != 0
    line = one_line_error(err)
    assert given in line and "outside the documents folder" in line
    assert _snapshot(tmp_path) == before  # nothing moved in, out or over
    assert not (folder.corpus_dir / ".removed").exists()


def test_remove_with_three_dots_up_overwrites_nothing(folder, tmp_path, cli):
    """The reported case: `..` three times once moved one outside file over another."""
    deep = folder.corpus_dir / "a" / "b"
    deep.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("不能被覆盖", encoding="utf-8")
    code, _, err = cli("remove", "a/b/../../../victim.txt", "--corpus", folder.corpus_dir, "--quiet")
    assert code != 0 and "a/b/../../../victim.txt" in one_line_error(err)
    assert victim.read_text(encoding="utf-8") == "不能被覆盖"


@pytest.mark.parametrize("link", ["file", "folder"])
def test_remove_refuses_a_symbolic_link_out_of_the_folder(folder, outside, cli, link):
    if link == "file":
        (folder.corpus_dir / "decoy.txt").symlink_to(outside / "decoy.txt")
        given = "decoy.txt"
    else:
        (folder.corpus_dir / "linked").symlink_to(outside, target_is_directory=True)
        given = "linked/decoy.txt"
    code, _, err = cli("remove", given, "--corpus", folder.corpus_dir, "--quiet")
    line = one_line_error(err)
    assert code != 0 and given in line and "symbolic link to outside" in line
    assert (outside / "decoy.txt").read_text(encoding="utf-8").startswith(SECRET)


def test_remove_refuses_what_is_already_removed(folder, cli):
    hidden = folder.corpus_dir / ".removed" / "old"
    hidden.mkdir(parents=True)
    (hidden / "x.txt").write_text("旧文件", encoding="utf-8")
    code, _, err = cli("remove", ".removed/old/x.txt", "--corpus", folder.corpus_dir, "--quiet")
    assert code != 0 and ".removed/old/x.txt" in one_line_error(err)
    assert (hidden / "x.txt").exists()


def test_add_never_writes_through_a_link_in_the_folder(folder, outside, tmp_path, cli):
    """A document named like a link to an outside file would have overwritten that file."""
    (folder.corpus_dir / "decoy.txt").symlink_to(outside / "decoy.txt")
    new = tmp_path / "new"
    new.mkdir()
    (new / "decoy.txt").write_text("覆盖外部文件的企图\n", encoding="utf-8")
    code, _, err = cli("add", new / "decoy.txt", "--corpus", folder.corpus_dir, "--quiet")
    assert code != 0 and "decoy.txt" in one_line_error(err) and "symbolic link to outside" in err
    assert (outside / "decoy.txt").read_text(encoding="utf-8").startswith(SECRET)


def test_add_of_a_folder_never_lands_in_a_linked_folder_outside(folder, outside, tmp_path, cli):
    (folder.corpus_dir / "linked").symlink_to(outside, target_is_directory=True)
    src = tmp_path / "src" / "linked"
    src.mkdir(parents=True)
    (src / "planted.txt").write_text("植入的文件\n", encoding="utf-8")
    code, _, err = cli("add", tmp_path / "src", "--corpus", folder.corpus_dir, "--quiet")
    assert code != 0 and "linked/planted.txt" in one_line_error(err)
    assert sorted(os.listdir(outside)) == ["decoy.txt"]


def test_corpus_that_is_a_file_is_one_line(folder, cli, tiny_model):
    # the tiny model: a build loads its model before it looks at the folder, and m3e-small is the slow tier's
    code, _, err = cli("build", "--corpus", folder.corpus_dir / "本地文件.txt", "--index", folder.index_dir, "--model", tiny_model,
                       "--quiet")
    assert code != 0 and "is a file, not a folder" in one_line_error(err)


def test_console_script_refuses_with_exit_code_and_one_line(folder, outside):
    """The installed `policyqa` command itself, in a fresh process."""
    r = run("remove", "../outside/decoy.txt", "--corpus", folder.corpus_dir, "--quiet")
    assert r.returncode != 0 and "../outside/decoy.txt" in one_line_error(r.stderr)
    assert (outside / "decoy.txt").exists()
