"""The lifecycle evaluation: statuses on dates, 文号 lookup, --in-force filtering, timeline order.

Its documents (eval/lifecycle/documents/, synthetic, see eval/README.md) are indexed together with the
seed documents, so 文号 lookup and the in-force filter work among documents that say nothing about
their validity too. The gold (eval/lifecycle/gold.json) was written from the documents' texts:
- `statuses`: each document's status on each of five dates, and the document that repeals it;
- `questions`: `wenhao` (the document that must come first), `in_force` (asked with --in-force on
  `as_of`: the documents that must be found; none whose gold status that day is 已废止, 已失效 or
  尚未施行 may appear), `timeline` (the documents that must appear, oldest first).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from policyqa.config import Settings
from policyqa.index.build import build
from policyqa.qa.lifecycle import KEPT_BY_IN_FORCE
from policyqa.qa.search import Filters, Searcher

HERE = Path(__file__).parent / "lifecycle"
GOLD = HERE / "gold.json"
DOCUMENTS = HERE / "documents"


def load_gold(path: Path = GOLD) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def gather_corpus(dest: Path, seed_corpus: Path) -> None:
    """The seed documents and the lifecycle documents in one folder (a file is copied only when it differs,
    so the incremental build has nothing to do the second time)."""
    dest.mkdir(parents=True, exist_ok=True)
    for folder in (seed_corpus, DOCUMENTS):
        for f in sorted(folder.glob("*.txt")):
            target = dest / f.name
            if not target.exists() or target.read_bytes() != f.read_bytes():
                shutil.copyfile(f, target)


def judge_statuses(searcher: Searcher, gold: dict) -> list[dict]:
    """One row per (document, date): the status computed against the gold one (and the repealer)."""
    catalog = searcher.catalog()
    id_of = {d.source: d.doc_id for d in searcher.index.docs.values()}
    rows = []
    for g in gold["statuses"]:
        s = catalog.standing(id_of[g["source"]], g["date"])
        by = next((src for src, i in id_of.items() if s.replaced_by and i == s.replaced_by.doc_id), None)
        rows.append({**g, "got": s.status, "got_replaced_by": by,
                     "ok": s.status == g["status"] and by == g["replaced_by"]})
    return rows


def _gold_status(gold: dict) -> dict[tuple[str, str], str | None]:
    return {(g["source"], g["date"]): g["status"] for g in gold["statuses"]}


def judge_question(searcher: Searcher, q: dict, status_of: dict, k: int = 5) -> dict:
    """One question, asked as a user would (CLI flags ↔ Filters), judged by the gold alone."""
    f = Filters(in_force=q["kind"] == "in_force", as_of=q.get("as_of"), timeline=bool(q.get("timeline")))
    answer = searcher.ask(q["question"], top_k=k, filters=f)
    sources = [h.source for h in answer.hits]
    row = {"id": q["id"], "kind": q["kind"], "question": q["question"], "sources": sources}
    if q["kind"] == "wenhao":
        row["R@1"] = float(bool(sources) and sources[0] == q["expect"][0])
    elif q["kind"] == "in_force":
        bad = [s for s in sources if status_of.get((s, q["as_of"])) not in KEPT_BY_IN_FORCE]
        row["violations"] = bad
        row["found"] = sum(e in sources for e in q["expect"]) / len(q["expect"]) if q["expect"] else 1.0
    else:
        years = [g.year for g in answer.timeline or []]
        dated = [y for y in years if y is not None]
        ascending = dated == sorted(set(dated)) and (None not in years or years[-1] is None)
        positions = [sources.index(e) for e in q["expect"] if e in sources]
        row["order_ok"] = bool(answer.timeline) and ascending and len(positions) == len(q["expect"]) and positions == sorted(positions)
        row["years"] = years
    return row


def evaluate(searcher: Searcher, gold: dict) -> dict:
    statuses = judge_statuses(searcher, gold)
    status_of = _gold_status(gold)
    questions = [judge_question(searcher, q, status_of) for q in gold["questions"]]
    by = lambda kind: [r for r in questions if r["kind"] == kind]  # noqa: E731
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    return {
        "summary": {
            "status_accuracy": mean([float(r["ok"]) for r in statuses]), "status_pairs": len(statuses),
            "wenhao_R@1": mean([r["R@1"] for r in by("wenhao")]), "wenhao_n": len(by("wenhao")),
            "in_force_violations": sum(len(r["violations"]) for r in by("in_force")),
            "in_force_found": mean([r["found"] for r in by("in_force")]), "in_force_n": len(by("in_force")),
            "timeline_order": mean([float(r["order_ok"]) for r in by("timeline")]), "timeline_n": len(by("timeline")),
        },
        "statuses": statuses, "questions": questions,
    }


def table(summary: dict) -> str:
    s = summary
    return "\n".join([
        "| lifecycle check | n | value | target |", "|---|---|---|---|",
        f"| status right on (document, date) | {s['status_pairs']} | {s['status_accuracy']:.3f} | >= 0.95 |",
        f"| 文号 lookup R@1 | {s['wenhao_n']} | {s['wenhao_R@1']:.3f} | 1.0 |",
        f"| --in-force: repealed/expired/not-yet results | {s['in_force_n']} | {s['in_force_violations']} | 0 |",
        f"| --in-force: expected documents found | {s['in_force_n']} | {s['in_force_found']:.3f} | |",
        f"| timeline: years ascending, documents in order | {s['timeline_n']} | {s['timeline_order']:.3f} | 1.0 |",
    ])


def failures(result: dict) -> list[str]:
    out = [f"- status {r['source']} on {r['date']}: {r['got']} (by {r['got_replaced_by']}), gold {r['status']} "
           f"(by {r['replaced_by']})" for r in result["statuses"] if not r["ok"]]
    for r in result["questions"]:
        if r.get("R@1") == 0.0 or r.get("violations") or r.get("found", 1.0) < 1.0 or r.get("order_ok") is False:
            out.append(f"- {r['id']} {r['question']}: {r['sources']}")
    return out


def run(base: Settings, seed_corpus: Path, work: Path, report_dir: Path) -> dict:
    """Index seeds + lifecycle documents under `work` (incrementally), evaluate, write lifecycle.md/.json."""
    settings = replace(base, corpus_dir=work / "corpus", index_dir=work / "index")
    gather_corpus(settings.corpus_dir, seed_corpus)
    build(settings, progress=False)
    result = evaluate(Searcher(settings), load_gold())
    report_dir.mkdir(parents=True, exist_ok=True)
    md = ["# Lifecycle evaluation", "", table(result["summary"]), "", "## Failures", "", *(failures(result) or ["none"])]
    (report_dir / "lifecycle.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    (report_dir / "lifecycle.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return result
