"""Session fixtures: the seed corpus indexed once with the real model and once with a tiny seeded
model, and the one hook that puts tests in tiers.

Tiers (tests/README.md explains them): a test is `slow` when it uses a fixture in SLOW_FIXTURES,
is marked `browser`, or is marked `slow` itself; every other test is in the fast tier,
`pytest -m "not slow"`. Helpers shared by tests live in tests/support/, never here.
"""

from __future__ import annotations

import os

import pytest

from policyqa.config import Settings
from tests.support.indexes import seeds_indexed

# The fixtures that hold the real model's index (and whatever depends on them, which pytest counts
# among a test's fixtures too): a test using any of them is slow, with no marker needed.
SLOW_FIXTURES = {"seed_settings", "searcher"}


def pytest_collection_modifyitems(config, items):
    """The only place a tier is assigned: see SLOW_FIXTURES and tests/README.md."""
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


# as policyqa's command line sets it (policyqa/cli.py): a local Ray head on two busy cores can take
# longer than Ray's 30 s to start, and the Ray test starts one without the command line
os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "180")


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory) -> Settings:
    """A built index of the five seed documents (built once for the whole session)."""
    return seeds_indexed(tmp_path_factory.mktemp("seed"))


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
    return seeds_indexed(tmp_path_factory.mktemp("tiny-seed"), model=tiny_model, device="cpu")


@pytest.fixture(scope="session")
def tiny_searcher(tiny_settings):
    from policyqa.qa.search import Searcher

    return Searcher(tiny_settings)
