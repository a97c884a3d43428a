"""Shared fixtures: the real seed corpus, indexed once per session with the real model, and once
with a tiny seeded model for the fast tier.

Two tiers: `pytest -m "not slow"` runs what needs no real embedding model (corpus parsing,
plumbing, filters, errors, refusal rules on a tiny model) in well under a minute; the full
suite, which `.ci/run` runs, adds everything that needs m3e-small (ranking, answers, eval
floors) and the browser. A test is slow when it uses the real model's index (the fixtures in
SLOW_FIXTURES) or is marked slow or browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from policyqa.config import Settings

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "documents"
CITY_OF_SEED = {"荆州": "荆州市", "咸宁": "咸宁市", "岳阳": "岳阳市", "广水": "广水市", "大冶": "大冶市"}


SLOW_FIXTURES = {"seed_settings", "searcher"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


# as policyqa's command line sets it (policyqa/cli.py): a local Ray head on two busy cores can take
# longer than Ray's 30 s to start, and the Ray test starts one without the command line
os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "180")


def seed_file(city: str) -> Path:
    return next(SEEDS.glob(f"{city}-*.txt"))


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


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory) -> Settings:
    """A built index of the five seed documents (built once for the whole session)."""
    from policyqa.index.build import build

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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A 2-layer, 32-wide BERT with m3e-small's tokenizer and weights from a fixed seed, saved as a
    sentence-transformers folder like any downloaded model.

    Every real part runs (tokenizer, torch, mean pooling, normalisation, FAISS, the manifest's
    fingerprint) at a fraction of m3e-small's cost. Its vectors mean nothing, so tests on it
    assert plumbing (filters, caps, errors, refusal rules, reuse of work), never ranking quality.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    try:  # sentence-transformers >= 6; `models` before
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer

    from policyqa.encode.embedder import resolve_model

    path = tmp_path_factory.mktemp("tiny-model") / "tiny-bert"
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("m3e-small"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    bert = BertModel(config)
    bert.save_pretrained(path / "bert")
    tokenizer.save_pretrained(path / "bert")
    word = Transformer(str(path / "bert"), max_seq_length=512)
    model = SentenceTransformer(modules=[word, Pooling(config.hidden_size, "mean")], device="cpu")
    model.save(str(path))
    return str(path)


@pytest.fixture(scope="session")
def tiny_settings(tmp_path_factory, tiny_model) -> Settings:
    """The five seed documents indexed with the tiny model (built once for the whole session)."""
    from policyqa.index.build import build

    root = tmp_path_factory.mktemp("tiny-seed")
    corpus = root / "documents"
    shutil.copytree(SEEDS, corpus, ignore=shutil.ignore_patterns(".*"))
    settings = Settings().with_(corpus_dir=corpus, index_dir=root / "index", model=tiny_model, device="cpu")
    build(settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def tiny_searcher(tiny_settings):
    from policyqa.qa.search import Searcher

    return Searcher(tiny_settings)
