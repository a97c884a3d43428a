"""Embedding on a Ray cluster: Ray Data `map_batches` over a pool of sentence-transformers actors.

`policyqa build --ray [ADDRESS]` hands the passages the embedding cache lacks to Ray; each
actor loads the model once (encode/embedder.py, the same code as a local build) and encodes
its batches, on a GPU when the cluster has them. The vectors come back in order and go to the
embedding cache as usual, so the rest of the build does not know where they were computed.
Without an address Ray starts locally on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from policyqa.errors import require

BLOCK = 256  # passages per Ray batch (each actor encodes it `batch_size` at a time)
_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


class _Encoder:
    """A Ray actor: one model per actor, loaded in its constructor."""

    def __init__(self, model: str, batch_size: int, device: str | None):
        from policyqa.encode import embedder

        self.model, self.batch_size, self.device = model, batch_size, device
        embedder.load_model(model, device)

    def __call__(self, batch: dict) -> dict:
        from policyqa.encode import embedder

        texts = [str(t) for t in batch["text"]]
        vecs = embedder.encode(self.model, texts, self.batch_size, self.device)
        return {"i": batch["i"], "vector": list(vecs)}


def start(address: str, num_cpus: int | None = None) -> None:
    """Connect to the cluster at `address`, or start a local Ray ("local"); once per process."""
    require("ray", "--ray")
    import ray

    if ray.is_initialized():
        return
    kwargs = dict(runtime_env={"env_vars": _ENV}, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    if address in ("", "local"):
        ray.init(num_cpus=num_cpus or min(os.cpu_count() or 1, 4), **kwargs)
    else:
        ray.init(address=address, **kwargs)


def encode(model: str, texts: list[str], batch_size: int = 32, device: str | None = None, address: str = "local",
           num_cpus: int | None = None) -> np.ndarray:
    """Vectors for `texts` in order, computed by an actor pool on the Ray cluster."""
    start(address, num_cpus)
    import ray

    if not texts:
        from policyqa.encode import embedder

        return np.zeros((0, embedder.dimension(model, device)), np.float32)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    pool = gpus if gpus else max(1, min(cpus // 2, (len(texts) + BLOCK - 1) // BLOCK))
    ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)])
    out = ds.map_batches(_Encoder, fn_constructor_args=(model, batch_size, "cuda" if gpus else device),
                         batch_size=BLOCK, concurrency=pool, num_gpus=1 if gpus else 0, num_cpus=1 if not gpus else None)
    rows = sorted(out.take_all(), key=lambda r: int(r["i"]))
    return np.ascontiguousarray(np.vstack([np.asarray(r["vector"], np.float32) for r in rows]), dtype=np.float32)


def ray_encoder(address: str) -> Callable[..., np.ndarray]:
    """An encode(model, texts, batch_size, device) that runs on Ray at `address`."""
    # Ray's actors run the model in fp32 (encode/embedder.py): vectors any exact encoder may search
    return lambda model, texts, batch_size=32, device=None, bar=None: encode(model, texts, batch_size, device, address)
