"""Built indexes in a test's own folder: seed documents indexed afresh, or a copy of a built one."""

from __future__ import annotations

import shutil
from pathlib import Path

from policyqa.config import Settings
from tests.support.seeds import SEEDS, seed_file


def seeds_indexed(root: Path, **settings) -> Settings:
    """The five seed documents copied to root/documents and indexed in root/index (`settings`: any
    other Settings field, such as model and device)."""
    from policyqa.index.build import build

    corpus = root / "documents"
    shutil.copytree(SEEDS, corpus, ignore=shutil.ignore_patterns(".*"))
    s = Settings().with_(corpus_dir=corpus, index_dir=root / "index", **settings)
    build(s, progress=False)
    return s


def indexed_copy(tmp_path: Path, settings: Settings, cities: tuple[str, ...] = ("咸宁", "大冶")) -> Settings:
    """A documents folder holding copies of these seed documents, and a built index of it."""
    from policyqa.index.build import build

    corpus = tmp_path / "documents"
    corpus.mkdir()
    for city in cities:
        shutil.copy(seed_file(city), corpus)
    s = settings.with_(corpus_dir=corpus, index_dir=tmp_path / "index")
    build(s, progress=False)
    return s


def copy_of(built: Settings, root: Path) -> Settings:
    """Settings for a copy of a built corpus and index (embedding cache included) under `root`."""
    shutil.copytree(built.corpus_dir, root / "documents")
    shutil.copytree(built.index_dir, root / "index", ignore=shutil.ignore_patterns("build.lock"))
    return built.with_(corpus_dir=root / "documents", index_dir=root / "index")
