"""Embedding on a local Ray cluster (`policyqa build --ray`): the vectors of an ordinary build.

Runs only where the `cluster` extra is installed (`pip install 'policyqa[cluster]'`); without it,
test_milvus.py checks the one-line message that names the install.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from policyqa.config import Settings
from policyqa.index.build import build
from tests.support.seeds import seed_file

pytestmark = [
    pytest.mark.slow,  # a Ray head's start-up: tens of seconds on two shared cores, not the fast tier
    pytest.mark.skipif(__import__("importlib").util.find_spec("ray") is None,
                       reason="ray not installed (pip install 'policyqa[cluster]')"),
]


def test_local_ray_build_embeds_like_an_ordinary_build(tmp_path, tiny_model):
    from policyqa.encode import ray_embed
    from policyqa.index.store.loaded import load

    corpus = tmp_path / "documents"
    corpus.mkdir()
    for city in ("咸宁", "广水"):
        shutil.copy(seed_file(city), corpus)
    base = Settings().with_(corpus_dir=corpus, model=tiny_model, device="cpu")
    plain, on_ray = replace(base, index_dir=tmp_path / "plain"), replace(base, index_dir=tmp_path / "ray", ray_address="local")
    ray_embed.start("local", num_cpus=2)
    try:
        build(plain, progress=False)
        report = build(on_ray, progress=False)
    finally:
        import ray

        ray.shutdown()
    assert report.embedded == report.passages > 0
    a = np.vstack([s.vectors for s in load(Path(plain.index_dir)).segments])
    b = np.vstack([s.vectors for s in load(Path(on_ray.index_dir)).segments])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert a.shape == b.shape and cos.min() > 1 - 1e-5
    # the actors ran the encoder a local build resolves (openvino where installed), not a fixed fp32
    from policyqa.encode import encoders
    from policyqa.index.store import layout

    built = [layout.require_current(Path(s.index_dir)).manifest()["encoder"] for s in (plain, on_ray)]
    assert built == [encoders.resolve("auto", "cpu")] * 2
