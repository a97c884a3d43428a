"""All configuration in one place: defaults, overridable by environment and command-line flags.

Environment variables (all optional):
  POLICYQA_CORPUS    folder of documents          (default: ./documents)
  POLICYQA_INDEX     folder of the built index    (default: ./var/index)
  POLICYQA_MODEL     sentence-transformers model name or path (default: m3e-small, offline)
  POLICYQA_RERANKER  cross-encoder name or local folder to re-order the top candidates (default: unset = off)
  POLICYQA_DEVICE    cpu | cuda (default: cuda when available, else cpu)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from policyqa.corpus.sections import ChunkParams

DEFAULT_MODEL = "m3e-small"
MAX_QUESTION_CHARS = 1000

# Hugging Face is unreachable here: never let a library wait on it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class Retrieval:
    """Ranking knobs; defaults were chosen on the evaluation set (README, "Choosing defaults")."""

    fusion: str = "weighted"  # weighted (min-max scores) | rrf (reciprocal rank)
    rrf_k: int = 60
    dense_weight: float = 0.5
    bm25_weight: float = 0.5
    candidates: int = 100  # per retriever, before fusion
    per_doc: int = 3  # passages of one document in the top results, unless its city is asked for
    no_answer_threshold: float = 0.68  # top cosine below: 未找到相关内容 (eval.tune threshold)
    answer_depth: int = 5  # hits searched for the sum, day or count in a named unit asked for; none: 未找到相关内容
    understand_query: bool = True  # places/years/types named in the question filter and boost
    rerank_depth: int = 30  # fused candidates re-ordered by the cross-encoder, when Settings.reranker is set


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: Path(os.environ.get("POLICYQA_CORPUS", "documents")))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get("POLICYQA_INDEX", "var/index")))
    model: str = field(default_factory=lambda: os.environ.get("POLICYQA_MODEL", DEFAULT_MODEL))
    # a sentence-transformers CrossEncoder (name or local folder); None = no reranking, nothing loaded
    reranker: str | None = field(default_factory=lambda: os.environ.get("POLICYQA_RERANKER") or None)
    device: str | None = field(default_factory=lambda: os.environ.get("POLICYQA_DEVICE") or None)
    batch_size: int = 32
    index_type: str = "Flat"  # a faiss.index_factory string; exact search is right at this size
    chunking: ChunkParams = ChunkParams()
    retrieval: Retrieval = Retrieval()
    ocr: bool = True  # read scanned PDF pages and pictures in .docx by OCR (policyqa build|add --no-ocr: off)

    def with_(self, **changes) -> Settings:
        """A copy with the non-None changes applied (command-line flags left unset change nothing)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
