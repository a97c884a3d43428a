"""A damaged index says what is damaged and how to recover, and `build` recovers it.

Each case damages one part the way a full disk, a bad copy or a stray editor would, then asks,
shows the status, checks and builds through the command line, as a user would.
"""

from __future__ import annotations

import shutil

import pytest

from policyqa.cli import main as cli
from policyqa.index.store import layout


@pytest.fixture()
def index(tmp_path, tiny_settings):
    """A private copy of the tiny-model seed index (so each case damages its own)."""
    shutil.copytree(tiny_settings.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns("build.lock"))
    shutil.copytree(tiny_settings.corpus_dir, tmp_path / "documents")
    return tiny_settings.with_(index_dir=tmp_path / "index", corpus_dir=tmp_path / "documents")


def _segment(s):
    return s.index_dir / layout.current(s.index_dir).manifest()["segments"][0]["name"]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path):
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated vectors": lambda s: _truncate(_segment(s) / "vectors.npy"),
    "truncated store.sqlite": lambda s: _truncate(_segment(s) / "store.sqlite"),
    "truncated postings": lambda s: _truncate(_segment(s) / "post_row.npy"),
    "missing vocabulary": lambda s: (_segment(s) / "terms.json").unlink(),
    "truncated commit file": lambda s: _truncate(layout.current(s.index_dir).path),
    "garbage commit file": lambda s: layout.current(s.index_dir).path.write_bytes(b"\x00garbage" * 50),
    "garbage CURRENT": lambda s: (s.index_dir / "CURRENT").write_bytes(b"\xff\xfe\x00"),
}


def _run(capsys, *argv):
    rc = cli(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_part_is_named_with_the_fix_and_build_repairs_it(index, capsys, case):
    args = ["--index", str(index.index_dir)]
    DAMAGE[case](index)
    rc, out, err = _run(capsys, "ask", "科技特派员", *args, "--model", index.model)
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "damaged" in err and f"policyqa build --index {index.index_dir}" in err
    rc, out, err = _run(capsys, "status", *args, "--corpus", str(index.corpus_dir))
    assert rc == 0 and "damaged" in out and "policyqa build" in out
    rc, out, err = _run(capsys, "check", *args)
    assert rc == 1 and "damaged" in err
    rc, out, err = _run(capsys, "build", *args, "--corpus", str(index.corpus_dir), "--model", index.model, "--quiet")
    assert rc == 0 and "damaged" in out and "0 newly embedded" in out  # the embedding cache did the work
    rc, out, err = _run(capsys, "check", *args)
    assert rc == 0 and "index is intact" in out
    rc, out, err = _run(capsys, "ask", "科技特派员", *args, "--model", index.model, "--json")
    assert rc == 0 and '"results": [{' in out


def test_corrupt_bytes_of_the_same_size_are_found_by_check_and_build(index, capsys):
    _flip(_segment(index) / "vectors.npy")
    rc, out, err = _run(capsys, "check", "--index", str(index.index_dir))
    assert rc == 1 and "vectors.npy does not match its recorded checksum" in err
    rc, out, err = _run(capsys, "build", "--index", str(index.index_dir), "--corpus", str(index.corpus_dir),
                        "--model", index.model, "--quiet")
    assert rc == 0 and "is damaged" in out and "read again" in out
    assert _run(capsys, "check", "--index", str(index.index_dir))[0] == 0


def test_garbage_embedding_cache_is_set_aside_and_rebuilt(index, capsys):
    cache = index.index_dir / "embeddings.sqlite"
    cache.write_bytes(b"this is not a database" * 1000)
    rc, out, err = _run(capsys, "check", "--index", str(index.index_dir))
    assert rc == 1 and "embedding cache" in err and "policyqa build" in err
    rc, out, err = _run(capsys, "ask", "科技特派员", "--index", str(index.index_dir), "--model", index.model)
    assert rc == 0  # asking never opens the cache
    (index.corpus_dir / "new.txt").write_text("测试县2023年科技工作要点\n一、建设量子通信联合实验室。\n", encoding="utf-8")
    rc, out, err = _run(capsys, "build", "--index", str(index.index_dir), "--corpus", str(index.corpus_dir),
                        "--model", index.model, "--quiet")
    assert rc == 0 and "set aside" in out and "added 1" in out, out + err
    assert list(index.index_dir.glob("embeddings.sqlite.damaged-*"))  # kept, not deleted
    assert _run(capsys, "check", "--index", str(index.index_dir))[0] == 0
