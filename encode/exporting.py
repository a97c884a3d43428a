"""What every export of a model's transformer shares (ONNX, OpenVINO IR, the numpy question engine).

Each export runs once per weights and leaves a folder or file that later processes load without
torch: it must appear whole or not at all, and it must trace the same module (inputs → last hidden
state, pooling left to the caller) whichever runtime it is for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def traceable(st, sample: list[str]):
    """(module, input names, example inputs) for tracing `st`'s transformer: the module takes the
    tokenizer's tensors positionally, as tracers pass them, and returns the last hidden state."""
    import torch

    hf = st[0].auto_model.eval()
    feats = st.preprocess(sample)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in feats]

    class Hidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *inputs):
            return self.m(**dict(zip(names, inputs))).last_hidden_state

    return Hidden(hf), names, tuple(feats[n] for n in names)


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target` to write into; it replaces `target` only when the block ends
    without an error (a crash or a full disk leaves the previous export, or none, never half of one)."""
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
