"""Optional second stage: a cross-encoder re-orders the head of the fused candidates ("retrieve & re-rank").

Why: the embedding model and BM25 score the question and each passage separately, which is what makes
them fast enough to search the whole index, but neither reads the two together. A cross-encoder takes
(question, passage) as one input, so attention runs across both, and it judges relevance better. It
costs one transformer pass per pair, so it cannot search the index; it can re-order the few dozen
candidates that fusion already put first. That is the sentence-transformers "retrieve & re-rank" recipe.

Why it is off by default: no cross-encoder ships offline (Hugging Face is unreachable on these
machines), so one has to be supplied as a local folder, and scoring N pairs per question on CPU adds
latency. `Settings.reranker` (POLICYQA_RERANKER, `--reranker`) names it; when it is unset, Searcher
never imports this module and nothing is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np

from policyqa.config import Settings
from policyqa.encode.embedder import quiet_transformers, resolve_device
from policyqa.errors import ModelError

T = TypeVar("T")

_FIX = (
    "no cross-encoder ships offline and Hugging Face is unreachable, so give a local folder "
    "(e.g. a copy of BAAI/bge-reranker-base) with --reranker PATH or POLICYQA_RERANKER, or unset it to search without reranking"
)
_SCORING_HEADS = ("ForSequenceClassification", "ForCausalLM")  # what CrossEncoder can score with


def _check_folder(name: str, folder: Path) -> None:
    """Fail early, by name, on a path that is missing or holds a model that is not a cross-encoder.

    A plain embedding model (m3e-small itself, say) would load without complaint, with a randomly
    initialised scoring head, and re-order results at random: that must be an error, not a ranking.
    """
    if not folder.exists():
        raise ModelError(f"cannot load reranker {name!r}: no such folder; {_FIX}")
    config = folder / "config.json"
    if folder.is_dir() and config.exists():
        try:
            archs = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load reranker {name!r}: unreadable {config} ({e}); {_FIX}") from e
        if archs and not any(a.endswith(_SCORING_HEADS) for a in archs):
            raise ModelError(
                f"cannot load reranker {name!r}: it is not a cross-encoder (architectures: {', '.join(archs)}); "
                "give a folder holding a sequence-classification reranker such as BAAI/bge-reranker-base"
            )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "~", "/")) or Path(name).expanduser().exists() or "\\" in name


@lru_cache(maxsize=2)
def load_reranker(name: str, device: str | None = None):
    """The sentence-transformers CrossEncoder for `name` (hub name or local folder), loaded once per process.

    Cached like index.embedder.load_model: a server or an evaluation asks many questions with one model.
    Any failure becomes one ModelError naming the model and the fix, which the CLI prints as one line.
    """
    if _looks_like_path(name):
        _check_folder(name, Path(name).expanduser())
    from sentence_transformers import CrossEncoder

    quiet_transformers()
    where = str(Path(name).expanduser()) if _looks_like_path(name) else name
    try:
        return CrossEncoder(where, device=resolve_device(device))
    except Exception as e:
        raise ModelError(f"cannot load reranker {name!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]}); {_FIX}") from e


def rerank(question: str, candidates: Sequence[T], text: Callable[[T], str], model: str, depth: int,
           device: str | None = None, batch_size: int = 32) -> list[T]:
    """`candidates` with the first `depth` re-ordered by cross-encoder score for (question, text(c)), best first.

    Only the head is scored: that bounds the cost at `depth` pairs per question, and below it the fused
    order is kept as it was. Equal scores keep their fused order (stable sort).
    """
    head, tail = list(candidates[: max(depth, 0)]), list(candidates[max(depth, 0) :])
    if not head:
        return tail
    scores = load_reranker(model, device).predict(
        [(question, text(c)) for c in head], batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
    )
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return [head[i] for i in order] + tail


def rerank_for_search(settings: Settings, question: str, ranked: list[int], text: Callable[[int], str]) -> tuple[list[int], list[str]]:
    """Searcher.ask's one call: the re-ordered passage ids and the note that says so (none when nothing was scored)."""
    n = min(settings.retrieval.rerank_depth, len(ranked))
    if n <= 0 or not settings.reranker:
        return ranked, []
    out = rerank(question, ranked, text, settings.reranker, n, settings.device, settings.batch_size)
    label = Path(settings.reranker).name or settings.reranker
    return out, [f"已用交叉编码器 {label} 重排前{n}条"]
