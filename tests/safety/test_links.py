"""Symbolic links in the documents folder are never followed: no outside text becomes searchable.

A link out of the folder, to nothing, or to a document inside it is skipped and reported,
with the reason, in the build summary and in `status`, like any file that is not read.
"""

from __future__ import annotations

import json
import os

from tests.support.cli import where
from tests.support.seeds import SECRET


def _ask_json(cli, live, question):
    code, out, err = cli("ask", question, "--index", live.index_dir, "--mode", "bm25", "--json", "--top-k", "10")
    assert code == 0, err
    return json.loads(out.splitlines()[0])


def test_links_out_dangling_and_inside_are_skipped_and_reported(live, outside, cli):
    docs = live.corpus_dir
    (docs / "passwd.txt").symlink_to(outside / "decoy.txt")
    (docs / "elsewhere").symlink_to(outside, target_is_directory=True)
    (docs / "gone.txt").symlink_to(outside / "no-such-file.txt")
    seed = sorted(p.name for p in docs.glob("*.txt") if not p.is_symlink())[0]
    (docs / "alias.txt").symlink_to(seed)

    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    assert "passwd.txt: symbolic link to outside the documents folder; not followed" in out
    assert "elsewhere: symbolic link to outside the documents folder; not followed" in out
    assert "gone.txt: symbolic link to nothing (dangling); not followed" in out
    assert f"alias.txt: symbolic link to {seed} in the documents folder; not followed" in out
    assert "skipped 4" in out and SECRET not in out

    answer = _ask_json(cli, live, "口令 紫色大象 七号 外部机密")
    assert not [r for r in answer["results"] if SECRET in r["text"] or r["source"] in ("passwd.txt", "alias.txt")]

    code, out, err = cli("status", *where(live, model=False))
    assert code == 0, err
    for name in ("passwd.txt", "elsewhere", "gone.txt", "alias.txt"):
        assert any(line.startswith(f"  ! {name}: symbolic link") for line in out.splitlines()), (name, out)
    assert "not indexed yet: 0" in out


def test_a_link_to_a_folder_inside_cannot_loop(live, cli):
    (live.corpus_dir / "sub").mkdir()
    os.symlink("..", live.corpus_dir / "sub" / "up")  # sub/up/sub/up/... would never end
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    assert "sub/up: symbolic link to . in the documents folder; not followed" in out
    assert "unchanged 5" in out


def test_a_named_pipe_is_skipped_not_read(live, cli):
    """Reading a FIFO blocks until someone writes: the build would hang for ever."""
    os.mkfifo(live.corpus_dir / "管道.txt")
    code, out, err = cli("build", *where(live), "--quiet")
    assert code == 0, err
    assert "  skipped: 管道.txt: not a regular file (a pipe, socket or device); not read" in out.splitlines()
