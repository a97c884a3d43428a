"""How a build gets its vectors: from the embedding cache, else from the encoder (or a Ray cluster),
cached as they come so a killed build loses at most one chunk of work.

A segment is written before its vectors (`write_unembedded`), so its passages can be published and
searched by BM25 at once, and embedded after (`embed_segment`), its texts read back from its store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from policyqa.config import Settings
from policyqa.corpus.types import Document
from policyqa.encode import embedder, encoders
from policyqa.encode.base import Encoder
from policyqa.index.store import segment
from policyqa.index.store.cache import EmbeddingCache, text_hash
from policyqa.index.store.schema import SegmentEntry

if TYPE_CHECKING:
    from policyqa.index.build import BuildReport


def embed(cache: EmbeddingCache, settings: Settings, texts: list[str], hashes: list[str], report: BuildReport,
          progress: bool, encoder: Encoder | None = None, bar: tqdm | None = None,
          on_chunk: Callable[[int], None] | None = None) -> np.ndarray:
    """Vectors for `texts`: the cached ones, the rest embedded with `encoder` (default: the settings' model).

    `bar`: a progress bar of the whole build's embedding to advance (else one of its own);
    `on_chunk(n)`: told after each chunk of n passages is embedded and cached."""
    found = cache.get(hashes)
    missing = list(dict.fromkeys(h for h in hashes if h not in found))
    text_of = dict(zip(hashes, texts))
    if settings.ray_address is not None and missing and encoder is None:  # embed on a Ray cluster (encode/ray_embed.py)
        from policyqa.encode.ray_embed import ray_encoder

        # the variant a local build resolved (settings.encoder, from _build), so both give the same vectors
        encode = ray_encoder(settings.ray_address, settings.encoder, str(Path(settings.index_dir).resolve() / "encoders"))
    elif missing:  # settings.encoder is the resolved variant here (_build)
        encoder = encoder or encoders.load(settings.model, settings.encoder, settings.device, Path(settings.index_dir) / "encoders")

        def encode(model, texts, batch_size, device, bar=None):
            return encoder.passages(texts, batch_size, bar=bar)
    # the bar advances per batch: passages/s and the time left show from the first batch on
    own = bar is None
    if bar is None:
        bar = tqdm(total=len(missing), desc=f"embedding ({settings.encoder})", unit="passage",
                   disable=not progress or not missing)
    for i in range(0, len(missing), settings.embed_chunk):
        chunk = missing[i : i + settings.embed_chunk]
        done = bar.n
        vecs = encode(settings.model, [text_of[h] for h in chunk], settings.batch_size, settings.device, bar=bar)
        cache.put(chunk, vecs)
        found.update(zip(chunk, vecs))
        bar.update(len(chunk) - (bar.n - done))  # Ray reports nothing per batch; the local encoder does
        if on_chunk is not None:
            on_chunk(len(chunk))
    if own:
        bar.close()
    report.embedded += len(missing)
    if not hashes:
        return np.zeros((0, encoder.dimension if encoder else embedder.dimension(settings.model, settings.device)), np.float32)
    return np.vstack([found[h] for h in hashes]).astype(np.float32)


def write_unembedded(index_dir: Path, seq: int, docs: list[Document], tokens: list[list[str]], sizes: dict[str, int],
                     cache: EmbeddingCache, settings: Settings, report: BuildReport) -> tuple[SegmentEntry, int]:
    """(the segment's entry, how many of its passages the cache lacks): written now with the vectors the
    cache holds when it holds them all, else without any (`embed_segment` adds them). Written exact
    ("flat"): the build folds its segments at its end into the kind the index's size asks for."""
    texts = [p.indexed_text for d in docs for p in d.passages]
    hashes = [text_hash(t) for t in texts]
    missing = len(cache.missing(hashes))
    vectors = embed(cache, settings, texts, hashes, report, False) if not missing else None
    return segment.write(index_dir, seq, segment.SegmentInput(docs, sizes, tokens, vectors, hashes, "flat")), missing


def embed_segment(index_dir: Path, entry: SegmentEntry, cache: EmbeddingCache, settings: Settings, report: BuildReport,
                  encoder: Encoder | None, bar: tqdm | None, on_chunk: Callable[[int], None] | None) -> SegmentEntry:
    """Embed a segment written without vectors and put them beside it; the entry that names them."""
    texts, hashes = segment.pending_texts(Path(index_dir) / entry["name"])
    vectors = embed(cache, settings, texts, hashes, report, bar is not None, encoder, bar, on_chunk)
    return segment.attach_vectors(index_dir, entry, vectors)


def maybe_prune(cache: EmbeddingCache, index_dir: Path, segments: list[dict], live: int) -> None:
    """Forget cached vectors no segment uses once they outnumber the live passages by half."""
    limit = max(1000, live * 3 // 2)
    if cache.count_at_most() <= limit or cache.count() <= limit:
        return
    keep: set[str] = set()
    for s in segments:
        keep.update(segment.text_hashes(index_dir / s["name"]))
    cache.prune(keep)
