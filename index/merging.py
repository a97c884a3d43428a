"""Which segments a build folds together, and how each segment's vectors are searched.

Small segments of about the same size are merged four at a time (each passage is rewritten about
log4(n) times over a run of adds), a mostly tombstoned one is rewritten without its dead rows, and
a segment whose search kind the index's size no longer fits is rewritten once.
"""

from __future__ import annotations

from itertools import compress
from operator import itemgetter
from pathlib import Path

import numpy as np

from policyqa.config import Settings
from policyqa.index.store import segment
from policyqa.index.store.schema import Catalog, SegmentEntry

MERGE_BELOW = 5_000  # segments with fewer live passages are "small"
MERGE_AT = 4  # this many small segments are folded into one
MERGE_DEAD = 0.5  # a segment with this share of its rows tombstoned is rewritten
AUTO_ANN_FROM = 20_000  # --vectors auto: exact search up to this many live passages, then HNSW (docs/scale.md)
ANN_MIN_ROWS = 2_000  # a segment smaller than this is always searched exactly: the scan costs less than a graph


def vector_kind(mode: str, rows: int, total_live: int, current: str | None = None) -> str:
    """How a segment of `rows` passages is searched in an index of `total_live` passages.

    auto turns approximate once the index outgrows exact search, and never back (no churn around
    the threshold); an explicit mode is followed, except that small segments stay exact."""
    if mode == "auto":
        mode = "hnsw" if total_live > AUTO_ANN_FROM or (current not in (None, "flat")) else "flat"
    if mode not in ("flat", "hnsw", "ivf-sq8"):
        raise ValueError(f"unknown --vectors {mode!r}; use auto, flat, hnsw or ivf-sq8")
    return "flat" if rows < ANN_MIN_ROWS else mode


def _tier(rows: int) -> int:
    """Segments of about the same size share a tier (1-3 live rows, 4-15, 16-63, ...)."""
    tier = 0
    while rows >= MERGE_AT:
        rows //= MERGE_AT
        tier += 1
    return tier


def live_rows(catalog: Catalog) -> dict[str, int]:
    """Live passages per segment holding a live document, counted in C (numpy over the catalogue's columns)."""
    if not catalog:
        return {}
    segs = list(map(itemgetter("segment"), catalog.values()))
    names = sorted(set(segs))
    pos = {n: i for i, n in enumerate(names)}
    seg = np.fromiter(map(pos.__getitem__, segs), np.int64, len(segs))
    rows = np.fromiter(map(itemgetter("passages"), catalog.values()), np.int64, len(catalog))
    return dict(zip(names, np.bincount(seg, weights=rows, minlength=len(names)).astype(int).tolist()))


def merge_plan(segments: list[SegmentEntry], live_rows: dict[str, int]) -> list[SegmentEntry]:
    """Which segments to fold together: MERGE_AT small ones of the same size tier (the smallest
    such tier), plus any that is mostly tombstones (its dead rows are dropped by the rewrite).

    Tiers keep a run of one-document adds cheap: four 1-document segments make one of four,
    four of those one of sixteen, and so on, so each passage is rewritten about log4(n) times.
    Folding every small segment together each time rewrote the growing one on every fourth add
    (1.0 s at 100,000 passages)."""
    tiers: dict[int, list[dict]] = {}
    for s in segments:
        if live_rows[s["name"]] < MERGE_BELOW:
            tiers.setdefault(_tier(live_rows[s["name"]]), []).append(s)
    full = [group for _, group in sorted(tiers.items()) if len(group) >= MERGE_AT]
    dead = [s for s in segments if s["rows"] and 1 - live_rows[s["name"]] / s["rows"] >= MERGE_DEAD]
    plan = {s["name"]: s for s in (full[0] if full else [])}
    plan.update({s["name"]: s for s in dead})
    if len(plan) == 1 and not dead:
        return []
    return list(plan.values())


def merge(index_dir: Path, seq: int, plan: list[SegmentEntry], catalog: Catalog, settings: Settings,
          notes: list[str] | None, total_live: int, moved: set[str]) -> SegmentEntry:
    """Fold the planned segments' live documents into one new segment; catalogue entries follow
    them (their sources are added to `moved`)."""
    names = {s["name"] for s in plan}
    kept: dict[str, list[tuple[int, str]]] = {name: [] for name in names}
    for src in compress(catalog, map(names.__contains__, map(itemgetter("segment"), catalog.values()))):
        d = catalog[src]
        kept[d["segment"]].append((d["doc_num"], src))
    parts = []
    for s in plan:
        nums_sources = sorted(kept[s["name"]])
        parts.append(segment.Part(index_dir / s["name"], np.fromiter((n for n, _ in nums_sources), np.int64,
                                                                     len(nums_sources)), [src for _, src in nums_sources]))
    rows = sum(catalog[src]["passages"] for part in parts for src in part.sources)
    kind = vector_kind(settings.vectors, rows, total_live, plan[0].get("vectors", "flat"))
    entry = segment.combine(index_dir, seq, parts, kind)
    for num, src in enumerate(src for part in parts for src in part.sources):
        catalog[src] = catalog[src] | {"segment": entry["name"], "doc_num": num}  # a new entry: the old is shared
        moved.add(src)
    if notes is not None and len(plan) > 1:
        notes.append(f"merged {len(plan)} segments into {entry['name']} ({entry['rows']} passages)")
    elif notes is not None:
        notes.append(f"rewrote {plan[0]['name']} as {entry['name']} ({entry['rows']} passages, {kind} vectors)")
    return entry
