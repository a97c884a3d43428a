"""A build reads only files whose size or modification time moved since the last scan.

At tens of thousands of files, reading and hashing every one was most of an add or remove
(docs/scale.md). These cases pin down what the shortcut trusts and what it never trusts.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from policyqa.corpus.reader import RACY_NS, scan
from policyqa.index.build import build
from policyqa.index.reading import known_files
from policyqa.index.store import layout
from policyqa.index.update import add_files, remove_sources
from policyqa.qa.search import Searcher
from tests.support.seeds import seed_file

HOUR_NS = 3600 * 10**9


@pytest.fixture()
def live(tmp_path, tiny_settings):
    corpus = tmp_path / "documents"
    corpus.mkdir()
    for city in ("咸宁", "大冶"):
        shutil.copy(seed_file(city), corpus)
        old = time.time_ns() - HOUR_NS  # written an hour ago: outside the racy window of the first scan
        os.utime(corpus / seed_file(city).name, ns=(old, old))
    s = tiny_settings.with_(corpus_dir=corpus, index_dir=tmp_path / "index")
    build(s, progress=False)
    return s


def _known(s):
    return known_files(layout.current(s.index_dir).manifest(), s.corpus_dir)


def test_an_unchanged_file_is_not_read_again(live):
    """Seen through the one thing that shows it: bytes changed behind an unchanged size and time
    are not noticed (as make and rsync assume), while a fresh scan without the record sees them."""
    path = live.corpus_dir / seed_file("大冶").name
    before = path.stat()
    data = path.read_bytes()
    path.write_bytes(data[:-3] + b"\xe3\x80\x82")  # same length, one character different
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    recorded = {e.source: e.doc_id for e in scan(live.corpus_dir, *_known(live))[0]}
    fresh = {e.source: e.doc_id for e in scan(live.corpus_dir)[0]}
    assert recorded[path.name] != fresh[path.name]
    assert recorded[seed_file("咸宁").name] == fresh[seed_file("咸宁").name]


def test_a_changed_file_is_read_even_at_the_same_size(live):
    path = live.corpus_dir / seed_file("大冶").name
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("科技特派员", "科技指导员", 1), encoding="utf-8")  # same length in UTF-8
    assert path.stat().st_size == len(text.encode("utf-8"))
    report = build(live, progress=False)
    assert report.updated == [path.name] and report.unchanged == 1
    assert any("科技指导员" in h.text for h in Searcher(live).ask("科技指导员", mode="bm25", top_k=3).hits)


def test_a_file_changed_right_after_the_last_scan_is_read_whatever_its_time(live):
    """A change within the same timestamp tick as the scan cannot move the time: such files are re-read."""
    path = live.corpus_dir / seed_file("大冶").name
    known, scanned_at = _known(live)
    size, _, doc_id = known[path.name]
    racy = scanned_at - RACY_NS // 2
    path.write_bytes(path.read_bytes()[:-3] + b"\xe3\x80\x82")
    os.utime(path, ns=(racy, racy))
    known[path.name] = (size, racy, doc_id)  # as if the scan had seen this time
    entry = next(e for e in scan(live.corpus_dir, known, scanned_at)[0] if e.source == path.name)
    assert entry.doc_id != doc_id


def test_touching_a_file_records_its_new_time_once(live):
    path = live.corpus_dir / seed_file("咸宁").name
    old_commit = layout.current(live.index_dir).path
    newer = time.time_ns() - HOUR_NS // 2
    os.utime(path, ns=(newer, newer))
    report = build(live, progress=False)
    assert not report.added and not report.updated and report.unchanged == 2 and report.embedded == 0
    assert layout.current(live.index_dir).path != old_commit  # the new time is recorded
    assert _known(live)[0][path.name][1] == newer
    again = layout.current(live.index_dir).path
    build(live, progress=False)
    assert layout.current(live.index_dir).path == again  # and then nothing is left to do


def test_another_folder_is_scanned_in_full(live, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(live.corpus_dir, other)  # copytree keeps times: only the folder differs
    assert known_files(layout.current(live.index_dir).manifest(), other) == ({}, 0)


def test_add_and_remove_look_only_at_the_files_they_name(live, tmp_path):
    """`add` does not walk the folder (at 67,000 files that was most of its time): a file edited
    behind the index's back waits for `build`, while the named file is indexed as a build would."""
    behind = live.corpus_dir / seed_file("咸宁").name
    behind.write_text(behind.read_text(encoding="utf-8") + "\n附：科技指导员名单另行公布。\n", encoding="utf-8")
    new = tmp_path / "测试县.txt"
    new.write_text("测试县科技工作要点\n一、建设量子通信联合实验室。\n", encoding="utf-8")
    report = add_files(live, [new], progress=False)
    assert report.added == ["测试县.txt"] and not report.updated and report.unchanged == 2
    report = build(live, progress=False)
    assert report.updated == [behind.name] and not report.added and not report.removed

    removed = remove_sources(live, ["测试县.txt"], progress=False)
    assert removed.removed == ["测试县.txt"] and removed.unchanged == 2
    assert not build(live, progress=False).changed  # what remove left is what a full walk finds


def test_removing_an_original_indexes_its_duplicate_and_drops_its_skip(live):
    original = seed_file("大冶").name
    shutil.copy(live.corpus_dir / original, live.corpus_dir / "副本.txt")
    (live.corpus_dir / "坏文件.txt").write_bytes(b"")
    report = build(live, progress=False)
    assert report.duplicates == [("副本.txt", original)] or report.duplicates == [(original, "副本.txt")]
    assert [s.source for s in report.skipped] == ["坏文件.txt"]
    kept_as = next(a for a, b in report.duplicates)  # the name not indexed
    indexed = original if kept_as == "副本.txt" else "副本.txt"

    report = remove_sources(live, [indexed, "坏文件.txt"], progress=False)
    manifest = layout.current(live.index_dir).manifest()
    assert kept_as in manifest["documents"] and indexed not in manifest["documents"]
    assert report.embedded == 0 and not manifest["skipped"] and not manifest["duplicates"]
    assert not build(live, progress=False).changed
