"""Changing a model's weights in place, as a user who downloads new weights under the same path would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policyqa.encode import embedder, encoders


def scale_word_embeddings(model: Path) -> None:
    """Multiply the word embeddings by 1.5 in the model's safetensors file (skip when it has none) and
    forget what this process cached of the old weights (the model, its fingerprint, its engines)."""
    from safetensors.numpy import load_file, save_file

    weights = model / "model.safetensors"
    if not weights.exists():
        pytest.skip("the tiny model was saved without safetensors")
    tensors = load_file(weights)
    name = next(k for k in tensors if k.endswith("word_embeddings.weight"))
    tensors[name] = tensors[name] * np.float32(1.5)
    save_file(tensors, weights)
    embedder._load_model.cache_clear(), embedder._fingerprint.cache_clear()
    encoders.load.cache_clear(), encoders.light_questions.cache_clear()
