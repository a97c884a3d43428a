"""What the benchmarks share: the repository on sys.path, the CMRC2018 reader, timing.

A benchmark runs as a script (`.venv/bin/python bench/bench_x.py`), so its own folder is first on
sys.path and `import common` finds this file; importing it puts the repository there too, for
`tests.support` (the tests' file generators and server, so a benchmark measures what the tests
check). policyqa itself is installed (editable) and needs no path.

CMRC2018 (CC-BY-SA) is read in place from ../shared/datasets/cmrc2018 and never copied into the
repository: SQuAD-format .json files of articles, paragraphs (`context`) and questions (`qas`).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

_CMRC_PLACES = [REPO.parent / "shared" / "datasets" / "cmrc2018", REPO.parent.parent / "shared" / "datasets" / "cmrc2018",
                Path("/work/shared/datasets/cmrc2018")]
CMRC = next((p for p in _CMRC_PLACES if p.exists()), _CMRC_PLACES[-1])

T = TypeVar("T")


# -- CMRC2018 -------------------------------------------------------------------------------------

def paragraphs(path: Path = CMRC) -> Iterator[dict]:
    """Every paragraph ({"context", "qas", "id"}) of a SQuAD-format file, or of each .json file of a
    folder in name order."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    for f in files:
        for article in json.loads(f.read_text(encoding="utf-8"))["data"]:
            yield from article["paragraphs"]


def asked(paragraph: dict) -> list[str]:
    """A paragraph's questions, blank ones left out."""
    return [q["question"] for q in paragraph["qas"] if q["question"].strip()]


def spread(items: list[T], n: int) -> list[T]:
    """At most n items taken at an even step across the list (a sample of all of it, not its start)."""
    return items[:: max(1, len(items) // max(1, n))][:n]


def base_texts(path: Path = CMRC) -> list[tuple[str, str]]:
    """(name, text) of every CMRC2018 context, then of every seed document."""
    out = []
    for para in paragraphs(path):
        out.append((f"cmrc-{para.get('id', len(out))}", para["context"]))
    for f in sorted((REPO / "documents").glob("*.txt")):
        out.append((f.stem, f.read_text(encoding="utf-8")))
    return out


def questions(limit: int = 200, contexts: set[str] | None = None, path: Path = CMRC) -> list[str]:
    """CMRC2018 questions spread over the set (only those asked on `contexts`, when given)."""
    return spread([q for para in paragraphs(path) if contexts is None or para["context"] in contexts for q in asked(para)],
                  limit)


# -- timing ---------------------------------------------------------------------------------------

def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(wall seconds, result) of one call."""
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def p50_p95(values: list[float]) -> tuple[float, float]:
    """Median and 95th percentile (linear between ranks, as numpy's default)."""
    return statistics.median(values), float(np.percentile(values, 95))
