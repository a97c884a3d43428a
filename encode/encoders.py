"""How passages and questions become vectors on this machine: fp32, bf16, fp16, OpenVINO or ONNX Runtime.

The model is the same in every variant; only the arithmetic differs. `bf16` keeps the weights of
every Linear layer in bfloat16 and runs under CPU autocast, so the matrix products use the
AVX-512 BF16 / AMX units while LayerNorm, softmax and pooling stay fp32. Its vectors agree with
fp32 to a cosine of 0.99998 or more and give the same nearest passage (bench/bench_encode.py),
which is why `auto` picks it by rule wherever the CPU has those instructions, with no probe at
run time: on a CPU without them torch emulates bfloat16 and is slower than fp32, so torch
stays fp32 there. `openvino` (encode/openvino.py, the optional `openvino` package that setup
installs) runs the same model through OpenVINO, in bf16 on such a CPU and f32 elsewhere; it was
faster than torch's best on both kinds of CPU measured (docs/performance.md "Encoders"), so
`auto` picks it on the CPU wherever it is installed, and falls back to bf16 / fp32 where it is
not. `onnx` (ONNX Runtime, fp32) and `onnx-int8` (dynamic int8) need the optional
`onnxruntime` and `onnx` packages and are never picked by `auto`: ONNX fp32 was not faster here,
and int8 changes which passage comes first for one question in five.

Every encoder shares one loop (encode/base.py): length-sorted passage batches, questions one at
a time on one thread, the model's prompt put before the text in one place. The classes here
give only the forward pass of one batch: `TorchEncoder` through sentence-transformers,
`OnnxEncoder` through ONNX Runtime, `openvino.OpenVinoEncoder` through OpenVINO
(numpy_bert.NumpyBert, in numpy, serves questions only).
"""

from __future__ import annotations

import tempfile
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from policyqa.encode import embedder, numpy_bert
from policyqa.encode import openvino as ov
from policyqa.encode.base import Encoder
from policyqa.encode.exporting import traceable
from policyqa.errors import EncoderError

CHOICES = ("auto", "fp32", "bf16", "openvino", "onnx", "onnx-int8")  # what a user may ask for; fp16 is auto's on a GPU
VARIANTS = ("fp32", "bf16", "fp16", "openvino", "onnx", "onnx-int8")
# Variants whose vectors agree with fp32 to cosine >= 0.9999 (measured, docs/performance.md "Encoders"): an
# index built with one may be asked with another. onnx-int8 (cosine ~0.99, top-1 differs) may not.
EXACT = frozenset({"fp32", "bf16", "fp16", "openvino", "onnx"})
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
ONNX_INSTALL = "pip install onnxruntime onnx (or: pip install 'policyqa[onnx]')"



@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo), or what torch can tell elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    import torch

    found = set()
    if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
        found.add("avx512_bf16")
    if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        found.add("amx_bf16")
    return frozenset(found)


def onnx_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):  # a broken install, or one hidden from this process
        return False


def usable(variant: str, device: str, flags: frozenset[str] | None = None) -> bool:
    """Whether `variant` runs here at its intended speed (a bf16 without the instructions would be emulated)."""
    cuda = device.startswith("cuda")
    if variant == "fp32":
        return True
    if variant == "fp16":
        return cuda
    if variant == "bf16":
        return not cuda and bool(BF16_FLAGS & (cpu_flags() if flags is None else flags))
    if variant in ("onnx", "onnx-int8"):
        return not cuda and onnx_available()
    if variant == "openvino":
        return not cuda and ov.available()
    return False


def bf16_units(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU (or one with `flags`) multiplies bfloat16 natively (AVX-512 BF16 or AMX)."""
    return bool(BF16_FLAGS & (cpu_flags() if flags is None else flags))


def resolve(requested: str, device: str, flags: frozenset[str] | None = None) -> str:
    """The variant to run for a requested setting: `auto` becomes the fastest one that agrees with fp32 here.

    `flags` stands for the CPU's feature flags (default: this CPU's), so a caller can ask what a
    CPU without AVX-512 BF16 would get.
    """
    if requested not in CHOICES and requested != "fp16":
        raise EncoderError(f"unknown encoder {requested!r}; use one of: {', '.join(CHOICES)}")
    cuda = device.startswith("cuda")
    if requested == "auto":
        if cuda:
            return "fp16"
        if usable("openvino", device, flags):
            return "openvino"
        return "bf16" if usable("bf16", device, flags) else "fp32"
    if requested == "fp16" and not cuda:
        raise EncoderError("encoder fp16 is for a GPU (--device cuda); on the CPU use --encoder auto, bf16 or fp32")
    if requested == "openvino":
        if cuda:
            raise EncoderError("encoder openvino runs on the CPU only; use --encoder auto (fp16) with --device cuda")
        if not ov.available():
            raise EncoderError(f"encoder openvino needs OpenVINO, which is not installed: {ov.INSTALL}")
    if requested.startswith("onnx"):
        if cuda:
            raise EncoderError(f"encoder {requested} runs on the CPU only; use --encoder auto (fp16) with --device cuda")
        if not onnx_available():
            raise EncoderError(f"encoder {requested} needs ONNX Runtime, which is not installed: {ONNX_INSTALL}")
    if requested == "bf16" and cuda:
        return "fp16"
    return requested


def for_index(requested: str, index_encoder: str | None, device: str, flags: frozenset[str] | None = None) -> str:
    """The variant to use on an existing index: with `auto`, the one that built it when it runs here.

    An index built before encoders were recorded was built with fp32. Keeping its encoder means
    `policyqa build` after an upgrade re-embeds nothing; `--encoder bf16` switches it once.
    """
    index_encoder = index_encoder or "fp32"
    if requested == "auto" and usable(index_encoder, device, flags):
        return index_encoder
    return resolve(requested, device, flags)


def compatible(index_encoder: str | None, query_encoder: str) -> bool:
    """Whether questions encoded with `query_encoder` may search vectors built with `index_encoder`."""
    index_encoder = index_encoder or "fp32"
    return index_encoder == query_encoder or (index_encoder in EXACT and query_encoder in EXACT)


def cache_key(model_key: str, variant: str) -> str:
    """The embedding cache's key: fp32 keeps the bare weights hash, so caches from before encoders stay valid."""
    return model_key if variant == "fp32" else f"{model_key}+{variant}"


# ---------------------------------------------------------------------------------------------
# encoders


_THREADS = threading.Lock()


@contextmanager
def _one_thread():
    """torch on one intra-op thread for the duration (serialised: the setting is process-wide)."""
    import torch

    with _THREADS:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def exact_prompts(st, model: str) -> tuple[str, str]:
    """The model's (question, passage) prompts, which the encoders put before the text themselves.

    That is what sentence-transformers does with them unless the pooling leaves the prompt's
    tokens out (`include_prompt: false`), which an encoder that prefixes cannot reproduce."""
    prompts = embedder.prompts(st)
    if any(prompts) and any(getattr(m, "include_prompt", True) is False for m in st):
        raise EncoderError(f"model {model!r} leaves its prompt out of pooling (include_prompt: false), "
                           "which policyqa's encoders do not reproduce; use a model that pools its prompt")
    return prompts


@dataclass
class TorchEncoder(Encoder):
    """One model in fp32, bf16 or fp16 through sentence-transformers."""

    model: str
    variant: str
    device: str | None  # as configured (None: cuda when available), so the model is loaded once per process
    _st: object = field(default=None, repr=False)
    prompts: tuple[str, str] = ("", "")

    @property
    def dimension(self) -> int:
        return embedder.dimension(self.model, self.device)

    def _lone(self):
        return _one_thread()

    def _forward(self, texts: list[str], lone: bool) -> np.ndarray:
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.variant == "bf16"):
            # prompt="": the prompt is in `texts` already (Encoder._encode), and no default prompt is added
            v = self._st.encode(texts, batch_size=len(texts), normalize_embeddings=True, convert_to_tensor=True,
                                show_progress_bar=False, prompt="")
        return v.float().cpu().numpy()


@dataclass
class OnnxEncoder(TorchEncoder):
    """The model's transformer exported to ONNX (fp32, or dynamically quantised to int8), mean pooling in numpy.

    Passages run on a session with torch's thread count, questions on a one-thread session."""

    _batch_session: object = field(default=None, repr=False)
    _one_session: object = field(default=None, repr=False)

    def _lone(self):
        return nullcontext()

    def _forward(self, texts: list[str], lone: bool) -> np.ndarray:
        session = self._one_session if lone else self._batch_session
        feats = self._st.preprocess(texts)
        feed = {i.name: feats[i.name].numpy() for i in session.get_inputs()}
        hidden = session.run(None, feed)[0]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        v = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _export_onnx(st, variant: str, path: Path) -> None:
    """Write the transformer (inputs → last hidden state) as ONNX, int8-quantised for onnx-int8. Atomic."""
    import torch

    module, names, example = traceable(st, ["导出", "导出一个较长的句子"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        import warnings

        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}
            torch.onnx.export(module, example, str(fp32), input_names=names,
                              output_names=["hidden"], dynamic_axes=axes, opset_version=17, dynamo=False)
        final = fp32
        if variant == "onnx-int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = Path(tmp) / "int8.onnx"
            quantize_dynamic(str(fp32), str(final), weight_type=QuantType.QInt8)
        final.replace(path)


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _converted(st, variant: str):
    """A copy of the model for `variant` (the fp32 original stays as loaded: its weights are the fingerprint)."""
    import copy

    import torch

    if variant == "fp32":
        return st
    model = copy.deepcopy(st)
    if variant == "fp16":
        return model.half()
    # bf16: Linear weights stored in bfloat16 once, so autocast does not re-cast them on every call
    # (bit-identical to plain autocast, and a lone question no longer pays for the cast)
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return model


@lru_cache(maxsize=8)
def load(model: str, variant: str, device: str | None = None, cache_dir: Path | None = None) -> Encoder:
    """The encoder for (model, variant, device), once per process. ONNX files are exported into
    `cache_dir` once per model weights (a temporary folder when None)."""
    if variant not in VARIANTS:
        raise EncoderError(f"unknown encoder {variant!r}; use one of: {', '.join(CHOICES)}")
    st = embedder.load_model(model, device)
    prompts = exact_prompts(st, model)
    if variant == "openvino":
        return _openvino(model, st, device, cache_dir, prompts)
    if not variant.startswith("onnx"):
        return TorchEncoder(model, variant, device, _converted(st, variant), prompts)
    if not onnx_available():
        raise EncoderError(f"encoder {variant} needs ONNX Runtime, which is not installed: {ONNX_INSTALL}")
    import torch

    folder = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="policyqa-onnx-"))
    path = folder / f"{embedder.fingerprint(model, device)}-{variant}.onnx"
    if not path.exists():
        try:
            _export_onnx(st, variant, path)
        except Exception as e:
            raise EncoderError(
                f"cannot export model {model!r} to ONNX ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                "use --encoder auto"
            ) from e
    return OnnxEncoder(model, variant, device, st, prompts, _batch_session=_session(path, torch.get_num_threads()),
                       _one_session=_session(path, 1))


def _openvino(model: str, st, device: str | None, cache_dir: Path | None, prompts: tuple[str, str]) -> Encoder:
    """The model through OpenVINO, its IR converted once per weights into the models' cache folder
    (~/.cache/policyqa/models, beside the converted e5-small: one IR per machine, not per index),
    else into `cache_dir` (a temporary folder when None) where that one cannot be written."""
    if not ov.available():
        raise EncoderError(f"encoder openvino needs OpenVINO, which is not installed: {ov.INSTALL}")
    weights = embedder.fingerprint(model, device)
    places = [ov.MODELS_CACHE] + ([Path(cache_dir)] if cache_dir else [])
    folder = next((p for p in places if ov.cached(p, weights)), None)
    try:
        if folder is None:
            # a temporary folder only when no cache folder can be written (made each time, it was
            # left behind empty by every conversion that did not need it)
            for place in [*places, None]:
                place = place or Path(tempfile.mkdtemp(prefix="policyqa-openvino-"))
                try:
                    ov.convert(st, weights, Path(embedder.resolve_model(model)), place)
                except OSError:  # a read-only or full folder: the next place
                    continue
                folder = place
                break
        meta = ov.cached(folder, weights)
        return ov.OpenVinoEncoder.open(model, ov.folder(folder, weights), meta, bf16_units(), prompts)
    except Exception as e:
        raise EncoderError(
            f"cannot run model {model!r} with OpenVINO ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
            "use --encoder bf16 or fp32"
        ) from e


def _local_model(model: str) -> Path | None:
    """The model's folder when it is one on disk (the numpy engine exports from its files), else None."""
    try:
        path = Path(embedder.resolve_model(model))
    except embedder.ModelError:
        return None
    return path if (path / "config.json").exists() else None  # else a hub name: sentence-transformers resolves it


def _export_questions(model: str, path: Path, cache_dir: Path) -> bool:
    """Export the numpy engine for `model` into `cache_dir`; False for a model it does not run or a folder it cannot write."""
    try:
        st = embedder.load_model(model, "cpu")
        return numpy_bert.export(st, embedder.fingerprint(model, "cpu"), path, cache_dir, exact_prompts(st, model)) is not None
    except OSError:  # a read-only index folder: questions go through sentence-transformers
        return False


@lru_cache(maxsize=4)
def light_questions(model: str, cache_dir: Path):
    """The numpy engine for `model`'s questions (encode/numpy_bert.py), exported into `cache_dir`
    the first time; None for a model it does not run or a folder it cannot write.

    Its vectors are fp32's, so it stands in for every variant in EXACT: a fresh process answers
    without importing torch or sentence-transformers."""
    path = _local_model(model)
    if path is None:
        return None
    found = numpy_bert.cached(path, cache_dir)
    if found is not None or not _export_questions(model, path, cache_dir):
        return found
    return numpy_bert.cached(path, cache_dir)


def prepare_questions(model: str, cache_dir: Path) -> None:
    """Export the numpy engine unless it is there, without opening it: what a build leaves for the first
    question (opening its weights and tokenizer would cost every `add` a second it does not use)."""
    path = _local_model(model)
    if path is not None and numpy_bert.exported(path, cache_dir) is None:
        _export_questions(model, path, cache_dir)

