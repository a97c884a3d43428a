"""Questions encoded by the model's own weights in numpy: a fresh `policyqa ask` without torch.

Importing sentence-transformers (torch, transformers, scikit-learn) and loading the model was
most of a fresh process's first answer: about 6 of 8 s at 100,000 passages. A question is a few
dozen tokens through a small BERT (m3e-small: 4 layers, 512 wide), a few milliseconds of numpy.
So the first time a model is used, its weights are exported once into the index's `encoders/`
folder (the tensors in one flat .npy, the tokenizer, and the weights' fingerprint); later processes
map that with numpy and load the tokenizer with `tokenizers` only.

The export is keyed by the model files' sizes and modification times: new weights under the
same path miss it, are loaded by sentence-transformers and fingerprinted again, so an index
built with other weights is still refused. Only what this engine computes exactly is exported:
a BERT or XLM-R encoder (absolute positions, erf GELU) with mean pooling; any other model goes
on through sentence-transformers. A model's prompts are exported with it (e5-small: "query: ")
and put before the question by encode/base.py, as every encoder does. XLM-R differs from BERT
only in where its positions start (after the padding id); its 250,000-row word table is kept
apart in a .npy read by memory map, so a question reads only its own tokens' rows. The other
tensors are one float32 .npy, memory-mapped too (an .npz is read whole: 0.15 s of e5-small's
fresh ask), and a Unigram tokenizer (XLM-R's 250,000 pieces, 0.8 s to load whole) is opened in
the sliced form of encode/unigram_slice.py, which loads only the pieces a question can use.

Vectors are fp32 and agree with sentence-transformers' fp32 ones to a cosine of 0.99999 or
more (tests/index/test_numpy_bert.py); bf16 passage vectors agree with fp32 to 0.99998, which is
why an index built with bf16 may be asked with fp32 questions (encode/encoders.py EXACT).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policyqa.encode import unigram_slice
from policyqa.encode.base import Encoder
from policyqa.encode.exporting import atomic_folder

WEIGHT_FILES = ("pytorch_model.bin", "model.safetensors", "config.json", "tokenizer.json", "config_sentence_transformers.json")
MODEL_TYPES = ("bert", "xlm-roberta")
WORDS = "embeddings.word_embeddings.weight"  # in words.npy (memory-mapped), not in weights.npy
FORMAT = 2  # of the export; an older one is exported again (2: weights.npy and the sliced tokenizer)


def stamp(model_path: Path) -> list:
    """What identifies the model's files without reading them: name, size, modification time."""
    out = []
    for name in WEIGHT_FILES:
        p = model_path / name
        if p.exists():
            st = p.stat()
            out.append([name, st.st_size, st.st_mtime_ns])
    return out


def _folder(cache_dir: Path, model_path: Path) -> Path:
    return Path(cache_dir) / f"numpy-{hashlib.sha256(str(model_path.resolve()).encode()).hexdigest()[:16]}"


def supported(st) -> str | None:
    """None when this engine computes `st` (a SentenceTransformer) exactly, else why not."""
    mods = list(st)
    if len(mods) < 2 or type(mods[0]).__name__ != "Transformer" or type(mods[1]).__name__ != "Pooling":
        return "not a transformer with pooling"
    if any(type(m).__name__ not in ("Normalize",) for m in mods[2:]):
        return "modules after pooling"
    cfg = mods[0].auto_model.config
    if cfg.model_type not in MODEL_TYPES or getattr(cfg, "position_embedding_type", "absolute") != "absolute":
        return f"model type {cfg.model_type}"
    if cfg.hidden_act != "gelu":
        return f"activation {cfg.hidden_act}"
    pooling = mods[1].get_config_dict().get("pooling_mode")
    if pooling not in ("mean", ["mean"], ("mean",)):
        return f"pooling {pooling}"
    if any(getattr(m, "include_prompt", True) is False for m in mods[1:2]):
        return "pooling leaves the prompt out"
    return None


def export(st, fingerprint: str, model_path: Path, cache_dir: Path, prompts: tuple[str, str] = ("", "")) -> Path | None:
    """Write `st`'s weights and `prompts` (question, passage) for this engine (atomically); None when the
    model is not one it runs."""
    if supported(st) is not None or not (model_path / "tokenizer.json").exists():
        return None
    folder = _folder(cache_dir, model_path)
    with atomic_folder(folder) as tmp:
        weights = {k: v.detach().cpu().float().numpy() for k, v in st[0].auto_model.state_dict().items()}
        np.save(tmp / "words.npy", weights.pop(WORDS))
        tensors, offset = {}, 0
        for name, value in weights.items():
            tensors[name] = [offset, list(value.shape)]
            offset += value.size
        np.save(tmp / "weights.npy", np.concatenate([v.ravel() for v in weights.values()]))
        shutil.copyfile(model_path / "tokenizer.json", tmp / "tokenizer.json")
        unigram_slice.export(tmp / "tokenizer.json", tmp)
        cfg = st[0].auto_model.config
        # XLM-R numbers positions from padding_idx + 1 (what create_position_ids_from_input_ids gives an unpadded text)
        first = int(cfg.pad_token_id) + 1 if cfg.model_type == "xlm-roberta" else 0
        meta = {"format": FORMAT, "tensors": tensors, "first_position": first, "prompts": list(prompts),
                "fingerprint": fingerprint, "stamp": stamp(model_path), "max_seq_length": int(st.max_seq_length),
                "layers": cfg.num_hidden_layers, "heads": cfg.num_attention_heads, "eps": cfg.layer_norm_eps,
                "dimension": cfg.hidden_size}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def exported(model_path: Path, cache_dir: Path) -> dict | None:
    """meta.json of the export for the model at `model_path`, if its files are unchanged since; opens nothing."""
    try:
        meta = json.loads((_folder(cache_dir, model_path) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if meta.get("stamp") == stamp(model_path) and meta.get("format") == FORMAT else None


def cached(model_path: Path, cache_dir: Path) -> NumpyBert | None:
    """The exported engine for the model at `model_path`, if its files are unchanged since the export."""
    meta = exported(model_path, cache_dir)
    if meta is None:
        return None
    try:
        return NumpyBert.open(_folder(cache_dir, model_path), meta)
    except (OSError, ValueError, KeyError):
        return None


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm of each column of `x` (features x tokens; `w`, `b` columns), written over a new array."""
    x = x - x.mean(0)
    var = np.einsum("ij,ij->j", x, x) / np.float32(x.shape[0])
    x *= 1 / np.sqrt(var + np.float32(eps))
    x *= w
    x += b
    return x


def _gelu(u: np.ndarray) -> np.ndarray:
    """erf GELU in float32, erf within 1.5e-7 (Abramowitz & Stegun 7.1.26; numpy has no erf, scipy costs
    an import). float32 and in place: in float64 and new arrays it took as long as the layer's products."""
    z = np.abs(u)
    z *= np.float32(1 / math.sqrt(2.0))
    t = z * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    erf = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        erf += np.float32(c)
        erf *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    erf *= np.exp(z, out=z)
    np.subtract(1, erf, out=erf)  # erf(|u| / sqrt 2)
    np.copysign(erf, u, out=erf)
    erf += 1
    erf *= u
    erf *= np.float32(0.5)
    return erf


@dataclass
class NumpyBert(Encoder):
    """A BERT (or XLM-R) encoder and mean pooling in numpy, for questions (`Encoder.questions`; base.py
    batches and puts the model's prompt first)."""

    w: dict[str, np.ndarray]
    tokenizer: object
    fingerprint: str
    layers: int
    heads: int
    eps: float
    dimension: int
    first_position: int = 0
    prompts: tuple[str, str] = ("", "")
    variant: str = "numpy"

    @classmethod
    def open(cls, folder: Path, meta: dict) -> NumpyBert:
        flat = np.asarray(np.load(folder / "weights.npy", mmap_mode="r"))
        # vectors (biases, LayerNorm) as columns: the engine works on features x tokens (encode_one)
        w = {name: flat[at : at + math.prod(shape)].reshape(shape if len(shape) > 1 else (-1, 1))
             for name, (at, shape) in meta["tensors"].items()}
        w[WORDS] = np.load(folder / "words.npy", mmap_mode="r")
        limit = int(meta["max_seq_length"])
        tok = unigram_slice.Sliced.open(folder, folder / "tokenizer.json", limit)
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tok.enable_truncation(limit)
            tok.no_padding()
        q, p = meta["prompts"]
        return cls(w, tok, meta["fingerprint"], int(meta["layers"]), int(meta["heads"]), float(meta["eps"]),
                   int(meta["dimension"]), int(meta["first_position"]), (q, p))

    def _lone(self):
        """One BLAS thread: a question's matrices are a few dozen rows, and on busy shared cores a second
        OpenBLAS thread spinning for its share made each question 12-25x slower (73 ms against 0.9-1.9 s
        for e5-small under load 6 on two cores, 2026-12-03), as one torch thread did for torch."""
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # without it, numpy's BLAS keeps its threads
            return nullcontext()
        return threadpool_limits(1)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        """W x + b on columns: with a question's few tokens as the short side, OpenBLAS runs this 1.6-1.9x
        faster than x W^T with tokens as rows (one thread, 2026-12-04)."""
        y = self.w[name + ".weight"] @ x
        y += self.w[name + ".bias"]
        return y

    def encode_one(self, text: str) -> np.ndarray:
        """The unit vector of one text: embeddings, the layers, the mean over its tokens. The hidden states
        are features x tokens, so heads are a reshape and no product needs a transposed copy."""
        enc = self.tokenizer.encode(text)
        ids, types = np.asarray(enc.ids), np.asarray(enc.type_ids)
        w, n = self.w, len(ids)
        first = self.first_position
        x = np.asarray(w[WORDS][ids]) + w["embeddings.position_embeddings.weight"][first : first + n] \
            + w["embeddings.token_type_embeddings.weight"][types]
        x = _layer_norm(np.ascontiguousarray(x.T), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"],
                        self.eps)
        h, d = self.heads, self.dimension // self.heads
        scale = np.float32(1 / math.sqrt(d))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + f"attention.self.{m}").reshape(h, d, n) for m in ("query", "key", "value"))
            s = q.transpose(0, 2, 1) @ k  # heads x tokens x tokens
            s *= scale
            s -= s.max(-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(-1, keepdims=True)
            ctx = (v @ s.transpose(0, 2, 1)).reshape(h * d, n)
            a = self._linear(ctx, p + "attention.output.dense")
            a += x
            x = _layer_norm(a, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                            self.eps)
            o = self._linear(_gelu(self._linear(x, p + "intermediate.dense")), p + "output.dense")
            o += x
            x = _layer_norm(o, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        v = x.mean(1)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)

    def _forward(self, texts: list[str], lone: bool) -> np.ndarray:
        return np.stack([self.encode_one(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
