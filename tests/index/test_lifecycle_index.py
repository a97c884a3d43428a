"""An index built before documents' lifecycles were read still opens, and the next build reads them
without re-embedding anything."""

from __future__ import annotations

import shutil

from policyqa.corpus import lifecycle
from policyqa.eval.lifecycle import DOCUMENTS
from policyqa.index import build as build_module
from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.qa.search import Filters, Searcher

OLD, NEW = "荆州-科技特派员管理办法-2019.txt", "荆州-科技特派员管理办法-2023.txt"


def test_an_index_from_before_lifecycles_opens_and_the_next_build_reads_them(tmp_path, tiny_settings, monkeypatch):
    corpus = tmp_path / "documents"
    corpus.mkdir()
    for name in (OLD, NEW):
        shutil.copy(DOCUMENTS / name, corpus)
    s = tiny_settings.with_(corpus_dir=corpus, index_dir=tmp_path / "index")
    with monkeypatch.context() as m:  # as the version before issue 29 built it: no lifecycle, none recorded
        m.setattr(lifecycle, "read_lifecycle", lambda *a, **k: None)
        m.setattr(build_module, "LIFECYCLE_READER", None)
        build(s, progress=False)
    assert "lifecycle" not in {k for k, v in layout.current(s.index_dir).manifest().items() if v is not None}

    before = Searcher(s).ask("科技特派员", mode="bm25", top_k=10, filters=Filters(in_force=True, as_of="2024-01-01"))
    assert {h.source for h in before.hits} == {OLD, NEW}  # it answers; nothing known, nothing filtered
    assert all(h.standing.status is None for h in before.hits)

    report = build(s, progress=False)
    assert any("document lifecycles" in n for n in report.notes) and report.embedded == 0
    assert layout.current(s.index_dir).manifest()["lifecycle"] == lifecycle.READER
    after = Searcher(s).ask("科技特派员", mode="bm25", top_k=10, filters=Filters(in_force=True, as_of="2024-01-01"))
    assert {h.source for h in after.hits} == {NEW}
