"""Fixtures of the index tests."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture()
def corpus(tmp_path, tiny_settings):
    """The tiny-model settings pointed at a copy of the seed documents (tmp_path/documents) and an
    index folder of their own (tmp_path/index), not yet built."""
    docs = tmp_path / "documents"
    shutil.copytree(tiny_settings.corpus_dir, docs)
    return tiny_settings.with_(corpus_dir=docs, index_dir=tmp_path / "index")
