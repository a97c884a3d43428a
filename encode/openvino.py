"""The model run by OpenVINO: the transformer converted once to OpenVINO IR, mean pooling in numpy.

On a CPU with AVX-512 BF16 / AMX, OpenVINO with `INFERENCE_PRECISION_HINT` bf16 encoded passages
2.6-2.7x as fast as torch fp32 (torch's bf16 autocast: 1.65x), with vectors agreeing to a cosine
of 0.99999; on a CPU without those units it runs in f32 (docs/performance.md "Encoders").

The transformer (inputs -> last hidden state) is converted from the torch model once per model
weights (`ov.convert_model`, then `save_model` uncompressed: fp16 weights would change the
vectors) into `openvino-<fingerprint>/` of the models' cache folder (~/.cache/policyqa/models,
beside the converted e5-small: one IR per machine, not per index; encoders.load falls back to
the index's `encoders/` where that cannot be written), with the model's `tokenizer.json` and a
meta.json. A later process reads that folder with `openvino` and `tokenizers` only.
New weights have another fingerprint, so another folder: an IR never outlives its weights.

Only what this engine computes exactly is converted (`supported`): a Hugging Face transformer,
mean pooling, then at most a Normalize. The prompts (e5: "query: " / "passage: ") are put before
the text by encode/base.py, as for every encoder.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policyqa.encode.base import Encoder
from policyqa.encode.e5convert import DEFAULT_CACHE
from policyqa.encode.exporting import atomic_folder, traceable

MODELS_CACHE = DEFAULT_CACHE  # ~/.cache/policyqa/models: where converted models live
INSTALL = "pip install openvino (or: bash scripts/setup.sh, which installs the 'openvino' extra)"
FOLDER_PREFIX = "openvino-"
FORMAT = 1  # of meta.json and the IR's inputs; another value is converted again


def available() -> bool:
    """Whether the openvino package is installed (it is an extra: not every platform has wheels)."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # a broken install, or one hidden from this process
        return False


def precision(bf16_units: bool) -> str:
    """The inference precision: bf16 where the CPU multiplies bfloat16 natively, else f32 (emulated bf16 is slow)."""
    return "bf16" if bf16_units else "f32"


def folder(cache_dir: Path, fingerprint: str) -> Path:
    """Where the IR of the model with these weights lives inside `cache_dir`."""
    return Path(cache_dir) / f"{FOLDER_PREFIX}{fingerprint}"


def supported(st) -> str | None:
    """None when `st` (a SentenceTransformer) is a transformer, mean pooling and at most a Normalize; else why not."""
    mods = list(st)
    if len(mods) < 2 or type(mods[0]).__name__ != "Transformer" or type(mods[1]).__name__ != "Pooling":
        return "not a transformer with pooling"
    if any(type(m).__name__ != "Normalize" for m in mods[2:]):
        return "modules after pooling"
    pooling = mods[1].get_config_dict().get("pooling_mode")
    if pooling not in ("mean", ["mean"], ("mean",)):
        return f"pooling {pooling}"
    return None


def convert(st, fingerprint: str, model_path: Path, cache_dir: Path) -> Path:
    """Write the IR of `st`'s transformer, its tokenizer and meta.json into `folder(cache_dir, fingerprint)`, atomically."""
    import openvino as ov
    import torch

    why = supported(st)
    if why is not None:
        raise ValueError(f"OpenVINO runs a transformer with mean pooling only ({why})")
    if not (Path(model_path) / "tokenizer.json").exists():
        raise ValueError(f"{model_path} has no tokenizer.json")
    hf = st[0].auto_model.eval()
    module, names, example = traceable(st, ["转换", "转换一个较长的句子"])

    import warnings

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about shape checks that hold for every batch
        ir = ov.convert_model(module, example_input=example)
    for port, name in zip(ir.inputs, names):
        port.get_tensor().set_names({name})
    target = folder(cache_dir, fingerprint)
    with atomic_folder(target) as tmp:
        ov.save_model(ir, str(tmp / "model.xml"), compress_to_fp16=False)  # fp16 weights would move the vectors
        shutil.copyfile(Path(model_path) / "tokenizer.json", tmp / "tokenizer.json")
        meta = {"format": FORMAT, "fingerprint": fingerprint, "inputs": names, "max_seq_length": int(st.max_seq_length),
                "dimension": int(hf.config.hidden_size),
                "pad_id": int(st.tokenizer.pad_token_id), "pad_token": str(st.tokenizer.pad_token)}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return target


def cached(cache_dir: Path, fingerprint: str) -> dict | None:
    """meta.json of the IR converted for these weights, if there is a whole one."""
    f = folder(cache_dir, fingerprint)
    try:
        meta = json.loads((f / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = meta.get("format") == FORMAT and meta.get("fingerprint") == fingerprint and (f / "model.xml").exists()
    return meta if ok else None


_COMPILE = threading.Lock()


@dataclass
class OpenVinoEncoder(Encoder):
    """Passages in batches on every core, questions one at a time on a one-thread compilation (compiled when first asked)."""

    model: str
    path: Path  # the IR's folder
    meta: dict
    precision: str  # "bf16" | "f32"
    prompts: tuple[str, str] = ("", "")
    variant: str = "openvino"
    _core: object = field(default=None, repr=False)
    _ir: object = field(default=None, repr=False)
    _compiled: dict = field(default_factory=dict, repr=False)
    _tokenizer: object = field(default=None, repr=False)

    @classmethod
    def open(cls, model: str, path: Path, meta: dict, bf16_units: bool, prompts: tuple[str, str]) -> OpenVinoEncoder:
        import openvino as ov
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.enable_truncation(int(meta["max_seq_length"]))
        tok.enable_padding(pad_id=int(meta["pad_id"]), pad_token=meta["pad_token"])  # to the batch's longest
        core = ov.Core()
        return cls(model, path, meta, precision(bf16_units), prompts, _core=core,
                   _ir=core.read_model(str(path / "model.xml")), _tokenizer=tok)

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    @property
    def dimension(self) -> int:
        return int(self.meta["dimension"])

    def _compiled_for(self, lone: bool):
        """The model compiled for passages (all cores, throughput of one batch) or lone questions (one thread)."""
        with _COMPILE:
            if lone not in self._compiled:
                config = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"}
                if lone:
                    config["INFERENCE_NUM_THREADS"] = 1
                self._compiled[lone] = self._core.compile_model(self._ir, "CPU", config)
            return self._compiled[lone]

    def _forward(self, texts: list[str], lone: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        encs = self._tokenizer.encode_batch(texts)
        feed = {"input_ids": np.array([e.ids for e in encs], np.int64),
                "attention_mask": np.array([e.attention_mask for e in encs], np.int64),
                "token_type_ids": np.array([e.type_ids for e in encs], np.int64)}
        compiled = self._compiled_for(lone)
        hidden = compiled.create_infer_request().infer({n: feed[n] for n in self.meta["inputs"]})[compiled.output(0)]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        v = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)
