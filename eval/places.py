"""The places evaluation: are documents labelled with the right place, and do questions that name a
place retrieve as well as those that do not?

Its documents (eval/places/docs/, synthetic, written for this: eval/README.md) are the cases places
go wrong on: provinces and their cities (吉林省 / 吉林市), names inside names (天津市 / 津市市, 黑龙江省 /
龙江县, 海南省 / 海南藏族自治州), the four municipalities, districts (海陵区 under 泰州市), documents
issued in one place that name others in passing, 文号 whose 简称 names a province, and documents
that name no place. labels.jsonl says each one's city and province; questions.jsonl gives each
question its document and the place it names (null when none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from policyqa.config import Settings
from policyqa.corpus.loaders import load
from policyqa.corpus.metadata import extract
from policyqa.eval.metrics import mean, mrr_at, recall_at

PLACES_DIR = Path(__file__).parent / "places"
DOCS_DIR = PLACES_DIR / "docs"
LABELS_FILE = PLACES_DIR / "labels.jsonl"
QUESTIONS_FILE = PLACES_DIR / "questions.jsonl"


@dataclass(frozen=True)
class PlaceLabel:
    source: str
    city: str | None
    province: str | None


@dataclass(frozen=True)
class PlaceQuestion:
    id: str
    question: str
    source: str  # the document that answers it
    place: str | None  # the place the question names, as it should be understood


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_labels(path: Path = LABELS_FILE) -> list[PlaceLabel]:
    return [PlaceLabel(**row) for row in _jsonl(path)]


def load_questions(path: Path = QUESTIONS_FILE) -> list[PlaceQuestion]:
    return [PlaceQuestion(**row) for row in _jsonl(path)]


def label_rows(labels: list[PlaceLabel], docs_dir: Path = DOCS_DIR) -> list[dict]:
    """Each document's place as the corpus stage reads it, beside the expected one."""
    rows = []
    for lab in labels:
        meta = extract(load(docs_dir / lab.source), lab.source)
        rows.append({"source": lab.source, "expected": [lab.city, lab.province], "got": [meta.city, meta.province],
                     "ok": (meta.city, meta.province) == (lab.city, lab.province)})
    return rows


def question_rows(searcher, questions: list[PlaceQuestion], k: int = 10) -> list[dict]:
    """Hybrid retrieval per question: R@5 and MRR@10 of its document (a document-level hit), and
    whether the answer was refused (every question here is answerable)."""
    searcher.prime([q.question for q in questions])
    rows = []
    for q in questions:
        answer = searcher.ask(q.question, top_k=k)
        relevant = [h.source == q.source for h in answer.hits]
        rows.append({"id": q.id, "question": q.question, "place": q.place, "R@5": recall_at(relevant, 5),
                     "MRR@10": mrr_at(relevant, 10), "refused": not answer.found,
                     "top_source": answer.hits[0].source if answer.hits else None,
                     "notes": answer.notes})
    return rows


def summarize(labels: list[dict], questions: list[dict]) -> dict:
    """Label accuracy, and retrieval for questions that name a place beside those that do not."""
    out: dict = {"labels": {"n": len(labels), "accuracy": mean([float(r["ok"]) for r in labels])}}
    for name, keep in (("names_place", lambda r: r["place"]), ("no_place", lambda r: not r["place"])):
        rs = [r for r in questions if keep(r)]
        out[name] = {"n": len(rs), "R@5": mean([r["R@5"] for r in rs]), "MRR@10": mean([r["MRR@10"] for r in rs]),
                     "false_refusal": mean([float(r["refused"]) for r in rs])}
    return out


def section(summary: dict, labels: list[dict], questions: list[dict]) -> str:
    """The places part of `policyqa eval`'s output (Markdown)."""
    lab = summary["labels"]
    lines = ["## Places (eval/places)", "",
             f"place labels right: {lab['accuracy']:.3f} ({sum(r['ok'] for r in labels)}/{lab['n']} documents)", "",
             "| questions | n | R@5 | MRR@10 | false_refusal |", "|---|---|---|---|---|"]
    for name in ("names_place", "no_place"):
        m = summary[name]
        lines.append(f"| {name.replace('_', ' ')} | {m['n']} | {m['R@5']:.3f} | {m['MRR@10']:.3f} | {m['false_refusal']:.3f} |")
    wrong = [f"- {r['source']}: expected {r['expected']}, got {r['got']}" for r in labels if not r["ok"]]
    missed = [f"- {r['id']} {r['question']} — not in top 5; first instead: {r['top_source']}"
              for r in questions if not r["R@5"]]
    missed += [f"- {r['id']} {r['question']} — refused: {r['notes'][-1] if r['notes'] else ''}" for r in questions if r["refused"]]
    return "\n".join(lines + ([""] + wrong if wrong else []) + ([""] + missed if missed else []))


def run(base: Settings, index_dir: Path, k: int = 10) -> tuple[dict, str]:
    """Index the places documents (under `index_dir`, rebuilt only when they change) and evaluate."""
    from policyqa.index.build import build
    from policyqa.qa.search import Searcher

    settings = replace(base, corpus_dir=DOCS_DIR, index_dir=index_dir)
    build(settings, progress=False)
    labels = label_rows(load_labels())
    questions = question_rows(Searcher(settings), load_questions(), k)
    summary = summarize(labels, questions)
    return {"summary": summary, "labels": labels, "questions": questions}, section(summary, labels, questions)
