"""Choose ranking and chunking defaults by measurement, not by taste.

    .venv/bin/python -m policyqa.eval.tune fusion [--squad ../shared/datasets/cmrc2018]
    .venv/bin/python -m policyqa.eval.tune chunking
    .venv/bin/python -m policyqa.eval.tune threshold [--squad-report var/eval-cmrc/report.json]
    .venv/bin/python -m policyqa.eval.tune support
    ... [--model e5-small --index var/eval-index-e5]   (any of them, for another model)

`fusion` re-ranks the same index under each candidate `Retrieval` (fusion method, weights,
RRF k, passages per document); questions are encoded once and reused across variants.
`chunking` builds one seed index per passage size and overlap (each cached under
var/tune/) and evaluates all three modes. `threshold` asks the seed set once with no
threshold and reads the top cosine of every question, adding the answerable questions of a
SQuAD report if given; each candidate threshold is then scored without asking again, and the
one that refuses the most negatives while refusing at most 5% of answerable questions in each
set (the lowest such, on ties) is picked. `support` lists places for the aggregate questions
at each share of the best place's topical weight (Retrieval.support). Each prints one Markdown
table; docs/evaluation.md "Choosing defaults" quotes them. Cosines differ between models, so the
threshold is chosen per model (config.NO_ANSWER_THRESHOLDS); give each model its own --index so
that switching does not re-embed.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from policyqa.config import Retrieval, Settings
from policyqa.corpus.sections import ChunkParams
from policyqa.eval.gold import GOLD_FILE, load_gold
from policyqa.eval.harness import REPO, SEED_CORPUS, evaluate, squad_gold, summarize
from policyqa.index.build import build
from policyqa.qa.search import Searcher

SEED_COLUMNS = [("all", "MRR@10"), ("fact", "R@1"), ("fact", "R@5"), ("paraphrase", "R@5"), ("comparison", "R@5"),
                ("aggregate", "city_F1"), ("aggregate", "evidence_recall"), ("negative", "refusal")]
SQUAD_COLUMNS = [("all", "MRR@10"), ("all", "R@1"), ("all", "R@5"), ("all", "answer_sentence")]


def fusion_variants() -> dict[str, Retrieval]:
    base = Retrieval()
    out = {"default": base}
    for k in (5, 20, 60):
        for dw, bw in ((1.0, 1.0), (0.5, 1.0), (1.0, 0.5)):
            out[f"rrf k={k} dense {dw} bm25 {bw}"] = replace(base, fusion="rrf", rrf_k=k, dense_weight=dw, bm25_weight=bw)
    for dw in (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7):
        out[f"weighted dense {dw} bm25 {1 - dw:.2g}"] = replace(base, fusion="weighted", dense_weight=dw, bm25_weight=1 - dw)
    for norm in ("max", "z"):  # other scales (qa/fusion.py); e5-small's narrow cosines made them worth a try
        for dw in (0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
            out[f"weighted {norm} dense {dw} bm25 {1 - dw:.2g}"] = replace(base, normalise=norm, dense_weight=dw,
                                                                        bm25_weight=1 - dw)
    for cap in (1, 2, 5):
        out[f"default, per_doc {cap}"] = replace(base, per_doc=cap)
    return out


def _row(name: str, summary: dict, columns) -> str:
    cells = [summary.get(kind, {}).get(metric) for kind, metric in columns]
    return f"| {name} | " + " | ".join("—" if c is None else f"{c:.3f}" for c in cells) + " |"


def _header(columns) -> list[str]:
    return ["| variant | " + " | ".join(f"{k} {m}" for k, m in columns) + " |", "|---" * (len(columns) + 1) + "|"]


def sweep_fusion(settings: Settings, gold, columns, only: list[str] | None = None, mode: str = "hybrid") -> list[str]:
    build(settings, progress=True)
    searcher = Searcher(settings)
    searcher.prime([q.question for q in gold], progress=True)  # every variant asks the same questions
    lines = _header(columns)
    for base_mode in ("bm25", "dense"):  # the single retrievers, for reference
        lines.append(_row(base_mode, summarize(evaluate(searcher, gold, [base_mode], 10, progress=True))[base_mode], columns))
    for name, retrieval in fusion_variants().items():
        if only and name not in only:
            continue
        searcher.settings = replace(settings, retrieval=replace(retrieval, understand_query=settings.retrieval.understand_query))
        lines.append(_row(name, summarize(evaluate(searcher, gold, [mode], 10, progress=False))[mode], columns))
        print(lines[-1], flush=True)
    return lines


def sweep_chunking(base: Settings, gold) -> list[str]:
    columns = SEED_COLUMNS
    lines = ["| max_chars | overlap | mode | " + " | ".join(f"{k} {m}" for k, m in columns) + " |",
             "|---" * (len(columns) + 3) + "|"]
    for size in (256, 384, 512, 768):
        for overlap in (0, 1):
            params = ChunkParams(max_chars=size, overlap_sentences=overlap)
            settings = replace(base, corpus_dir=SEED_CORPUS, chunking=params,
                               index_dir=REPO / "var" / "tune" / f"seed-{params.chunker_id}")
            build(settings, progress=True)
            summary = summarize(evaluate(Searcher(settings), gold, ["bm25", "dense", "hybrid"], 10, progress=False))
            for mode in ("bm25", "dense", "hybrid"):
                lines.append(_row(f"{size} | {overlap} | {mode}", summary[mode], columns))
                print(lines[-1], flush=True)
    return lines


MAX_FALSE_REFUSAL = 0.05  # the bound on answerable questions refused


def _refused(row: dict, t: float) -> bool:
    return (not row["found"]) or row.get("top_dense", 0.0) < t


def sweep_threshold(settings: Settings, gold, squad_report: Path | None) -> list[str]:
    import json

    build(settings, progress=True)
    searcher = Searcher(replace(settings, retrieval=replace(settings.retrieval, no_answer_threshold=0.0)))
    rows = evaluate(searcher, gold, ["hybrid"], 10, progress=False)["rows"]["hybrid"]
    neg = [r for r in rows if r["kind"] == "negative"]
    pos = [r for r in rows if r["kind"] != "negative"]
    squad = [r for r in json.loads(squad_report.read_text())["rows"]["hybrid"]] if squad_report else []
    lines = ["| threshold | seed refusal | seed answerable refused | SQuAD answerable refused |", "|---|---|---|---|"]
    best = None
    for t in [round(0.5 + 0.01 * i, 2) for i in range(46)]:  # to 0.95: e5-small's cosines sit higher than m3e's
        ref = sum(_refused(r, t) for r in neg) / len(neg)
        fr = sum(_refused(r, t) for r in pos) / len(pos)
        # SQuAD runs leave places and years alone, so only the threshold refuses there: the report's
        # own `found` already had the configured threshold applied, the top cosine has not
        fr_squad = sum(r["top_dense"] < t for r in squad) / len(squad) if squad else 0.0
        ok = fr <= MAX_FALSE_REFUSAL and fr_squad <= MAX_FALSE_REFUSAL
        if ok and (best is None or ref > best[1]):
            best = (t, ref)
        lines.append(f"| {t:.2f} | {ref:.3f} | {fr:.3f} | {fr_squad:.4f} |" + ("" if ok else " over 5% |"))
    lines.append(f"\npicked: {best[0]:.2f} (refusal {best[1]:.3f})" if best else "\nno threshold keeps false refusals within 5%")
    return lines


def sweep_support(settings: Settings, gold) -> list[str]:
    build(settings, progress=True)
    searcher = Searcher(settings)
    aggregate = [q for q in gold if q.kind == "aggregate"]
    lines = ["| support | city P | city R | city F1 |", "|---|---|---|---|"]
    for share in (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8):
        searcher.settings = replace(settings, retrieval=replace(settings.retrieval, support=share))
        s = summarize(evaluate(searcher, aggregate, ["hybrid"], 10, progress=False))["hybrid"]["aggregate"]
        lines.append(f"| {share:.2f} | {s['city_P']:.3f} | {s['city_R']:.3f} | {s['city_F1']:.3f} |")
        print(lines[-1], flush=True)
    searcher.settings = settings
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["fusion", "chunking", "threshold", "support"])
    ap.add_argument("--model", help="e5-small (default), m3e-small, or a sentence-transformers name or path")
    ap.add_argument("--index", help="index folder (default: var/eval-index, or the SQuAD set's under var/eval-squad)")
    ap.add_argument("--squad-report", help="report.json of a `policyqa eval --squad` run (threshold only)")
    ap.add_argument("--squad", help="a SQuAD-format file or folder (fusion only)")
    ap.add_argument("--limit", type=int, default=0, help="first N questions only")
    ap.add_argument("--only", help="fusion variants to run, by name, separated by ';' (default: all)")
    args = ap.parse_args()
    base = Settings.from_env(os.environ).with_(model=args.model)
    if args.squad:
        path = Path(args.squad)
        work = REPO / "var" / "eval-squad" / path.stem  # the index `policyqa eval --squad` built, reused
        settings = replace(base, corpus_dir=work / "corpus", index_dir=Path(args.index) if args.index else work / "index",
                           retrieval=replace(base.retrieval, understand_query=False))
        gold, columns = squad_gold(path, settings.corpus_dir), SQUAD_COLUMNS
    else:
        settings = replace(base, corpus_dir=SEED_CORPUS, index_dir=Path(args.index) if args.index else REPO / "var" / "eval-index")
        gold, columns = load_gold(GOLD_FILE), SEED_COLUMNS
    gold = gold[: args.limit] if args.limit else gold
    if args.what == "threshold":
        lines = sweep_threshold(settings, gold, Path(args.squad_report) if args.squad_report else None)
    elif args.what == "support":
        lines = sweep_support(settings, gold)
    elif args.what == "fusion":
        lines = sweep_fusion(settings, gold, columns, args.only.split(";") if args.only else None)
    else:
        lines = sweep_chunking(settings, gold)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
