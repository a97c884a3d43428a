"""The gold questions: loading, and locating each evidence string in the indexed documents."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from policyqa.errors import GoldMismatch

GOLD_FILE = Path(__file__).parent / "gold.jsonl"
KINDS = ("fact", "paraphrase", "aggregate", "comparison", "negative")


@dataclass
class Evidence:
    source: str
    text: str
    city: str | None = None


@dataclass
class GoldQuestion:
    id: str
    kind: str
    question: str
    evidence: list[Evidence] = field(default_factory=list)
    answer: str | None = None
    cities: list[str] = field(default_factory=list)


def load_gold(path: Path = GOLD_FILE) -> list[GoldQuestion]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ev = [Evidence(**e) for e in row.pop("evidence", [])]
            out.append(GoldQuestion(evidence=ev, **row))
        except (json.JSONDecodeError, TypeError) as e:
            raise GoldMismatch(f"{path}:{n}: not a gold question ({e}); see eval/README.md for the format") from e
    return out



def locate(q: GoldQuestion, texts: dict[str, str]) -> list[tuple[int, str, int, int]]:
    """(evidence number, source, start, end) of every occurrence of each evidence in the extracted text.

    A document that states the same words twice has two places a reader can check; either one is
    the evidence, so both count as found.
    """
    spans = []
    for n, e in enumerate(q.evidence):
        text = texts.get(e.source)
        if text is None:
            raise GoldMismatch(f"gold {q.id}: document {e.source} is not in the index; the gold set is about the seed "
                               "documents: evaluate an index built from documents/ (policyqa eval --corpus documents), "
                               "or give your own set with --gold FILE")
        at = text.find(e.text)
        if at < 0:
            raise GoldMismatch(f"gold {q.id}: evidence {e.text[:30]!r} is no longer in {e.source}; fix eval/gold.jsonl")
        while at >= 0:
            spans.append((n, e.source, at, at + len(e.text)))
            at = text.find(e.text, at + 1)
    return spans
