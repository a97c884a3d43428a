"""Embedding on a Ray cluster: Ray Data `map_batches` over a pool of encoder actors.

`policyqa build --ray [ADDRESS]` hands the passages the embedding cache lacks to Ray; each
actor loads the encoder once with the variant a local build would use (encode/encoders.py
`load`: openvino, bf16 or fp32 as `auto` resolved it on this machine; fp16 when the cluster has
GPUs) and encodes its batches, prompts included, as a local build does. The vectors come back in order and go to the
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

    def __init__(self, model: str, variant: str, batch_size: int, device: str | None, cache_dir: str | None):
        from pathlib import Path

        from policyqa.encode import encoders

        self.batch_size = batch_size
        self.encoder = encoders.load(model, variant, device, Path(cache_dir) if cache_dir else None)

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        return {"i": batch["i"], "vector": list(self.encoder.passages(texts, self.batch_size))}


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
           num_cpus: int | None = None, variant: str = "fp32", cache_dir: str | None = None) -> np.ndarray:
    """Vectors for `texts` in order, computed by an actor pool of `variant` encoders on the Ray cluster
    (fp16 on its GPUs when it has them; `cache_dir`: where an actor finds or converts an OpenVINO or ONNX model)."""
    start(address, num_cpus)
    import ray

    if not texts:
        from policyqa.encode import embedder

        return np.zeros((0, embedder.dimension(model, device)), np.float32)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    pool = gpus if gpus else max(1, min(cpus // 2, (len(texts) + BLOCK - 1) // BLOCK))
    ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)])
    args = (model, "fp16", batch_size, "cuda", cache_dir) if gpus else (model, variant, batch_size, device, cache_dir)
    out = ds.map_batches(_Encoder, fn_constructor_args=args,
                         batch_size=BLOCK, concurrency=pool, num_gpus=1 if gpus else 0, num_cpus=1 if not gpus else None)
    rows = sorted(out.take_all(), key=lambda r: int(r["i"]))
    return np.ascontiguousarray(np.vstack([np.asarray(r["vector"], np.float32) for r in rows]), dtype=np.float32)


def ray_encoder(address: str, variant: str, cache_dir: str | None = None) -> Callable[..., np.ndarray]:
    """An encode(model, texts, batch_size, device) that runs `variant` (the build's resolved encoder) on Ray at `address`."""
    return lambda model, texts, batch_size=32, device=None, bar=None: encode(model, texts, batch_size, device, address,
                                                                           variant=variant, cache_dir=cache_dir)
