"""A segment's documents as columns (index/store/doctable.py): what the index finds through them is
what a pass over every document's metadata finds. Built over the lifecycle evaluation's documents
(文号, repeals, places) and the seed reports, with the tiny model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from policyqa.eval.lifecycle import DOCUMENTS
from policyqa.index import merging
from policyqa.index.backends import Scope
from policyqa.index.build import build
from policyqa.index.store import segment
from policyqa.index.store.loaded import load
from policyqa.index.update import remove_sources
from policyqa.qa.lifecycle import Catalog


@pytest.fixture(scope="module")
def settings(tmp_path_factory, tiny_settings):
    root = tmp_path_factory.mktemp("columns")
    shutil.copytree(DOCUMENTS, root / "documents")
    for f in tiny_settings.corpus_dir.glob("*.txt"):
        shutil.copy(f, root / "documents" / f.name)
    settings = tiny_settings.with_(corpus_dir=root / "documents", index_dir=root / "index")
    build(settings, progress=False)
    return settings


def stored_metas(idx) -> dict[str, object]:
    """doc_id → metadata as each segment's SQLite store holds it (not read through the columns)."""
    return {d.doc_id: d.meta for s in idx.segments for d in segment.read_docs(s.path)[0]}


def test_each_document_is_found_by_id_with_its_metadata(settings):
    idx = load(settings.index_dir)
    stored = stored_metas(idx)
    assert len(idx.docs) == len(stored) > 10
    assert sorted(idx.docs) == sorted(stored)
    for doc_id, meta in stored.items():
        assert doc_id in idx.docs and idx.docs[doc_id].meta == meta
    assert "0" * 20 not in idx.docs and "not-an-id" not in idx.docs
    with pytest.raises(KeyError):
        idx.docs["0" * 20]


def test_lifecycles_read_through_the_columns_equal_a_catalogue_of_every_document(settings):
    idx = load(settings.index_dir)
    everything = Catalog((d, m) for d, m in stored_metas(idx).items())
    columns = Catalog(idx.library())
    assert columns.repealed_by == everything.repealed_by and everything.repealed_by  # some document repeals another
    for doc_id in idx.docs:
        for on in ("2019-01-01", "2023-08-01", "2026-01-01"):
            assert columns.standing(doc_id, on) == everything.standing(doc_id, on)
    for question in ("荆政发〔2019〕3号", "荆科发［２０２２］１５号还有效吗", "荆政发〔2099〕1号"):
        assert columns.find_numbered(question) == everything.find_numbered(question)


def test_filters_through_the_columns_equal_a_pass_over_every_document(settings):
    idx = load(settings.index_dir)
    metas = [idx.meta(g) for g in range(idx.n_docs)]
    for scope, key in ((Scope(city="荆州市"), "place"), (Scope(year=2023), "year"), (Scope(cities=("荆州市", "咸宁市")), "place")):
        want = np.array([scope.admits(m) for m in metas])
        assert want.any() and not want.all()
        assert np.array_equal(idx.doc_mask(scope.admits, key=key), want)


def test_a_merge_keeps_the_columns_true(settings, tmp_path, monkeypatch):
    """A remove that rewrites the segment (segment.combine): ids, metadata and lifecycles follow."""
    local = settings.with_(index_dir=tmp_path / "index")
    shutil.copytree(settings.index_dir, local.index_dir)
    before = {s.name for s in load(local.index_dir).segments}
    monkeypatch.setattr(merging, "MERGE_DEAD", 0.01)  # any tombstone rewrites its segment
    gone = sorted(p.name for p in settings.corpus_dir.glob("*.txt"))[:3]
    remove_sources(local, gone, progress=False)
    idx = load(local.index_dir)
    assert before.isdisjoint(s.name for s in idx.segments)
    stored = stored_metas(idx)
    assert sorted(idx.docs) == sorted(d for d in stored if idx.find(d) is not None)
    assert {idx.docs[d].source for d in idx.docs}.isdisjoint(gone)
    everything = Catalog((d, idx.docs[d].meta) for d in idx.docs)
    columns = Catalog(idx.library())
    assert all(columns.standing(d, "2024-01-01") == everything.standing(d, "2024-01-01") for d in idx.docs)
