"""Shared fixtures: the real seed corpus, indexed once per session with the real model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policyqa.config import Settings

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "documents"
CITY_OF_SEED = {"荆州": "荆州市", "咸宁": "咸宁市", "岳阳": "岳阳市", "广水": "广水市", "大冶": "大冶市"}


def seed_file(city: str) -> Path:
    return next(SEEDS.glob(f"{city}-*.txt"))


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory) -> Settings:
    """A built index of the five seed documents (built once for the whole session)."""
    from policyqa.index.builder import build

    root = tmp_path_factory.mktemp("seed")
    corpus = root / "documents"
    shutil.copytree(SEEDS, corpus, ignore=shutil.ignore_patterns(".*"))
    settings = Settings().with_(corpus_dir=corpus, index_dir=root / "index")
    build(settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def searcher(seed_settings):
    from policyqa.qa.search import Searcher

    return Searcher(seed_settings)
