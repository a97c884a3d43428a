"""`policyqa eval`: run gold questions through every mode, print one table, write a report.

The index used for evaluation lives under var/ and is rebuilt only when the corpus, model or
chunker change (the incremental builder does nothing otherwise). A SQuAD-format dataset is
evaluated by writing its contexts out as documents once and indexing them the same way.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from policyqa.config import Settings
from policyqa.corpus.loaders import normalize
from policyqa.eval.gold import GOLD_FILE, KINDS, GoldQuestion, load_gold, locate
from policyqa.eval.metrics import mean, mrr_at, ndcg_at, overlaps, recall_at, set_prf
from policyqa.index.build import build, kept_model
from policyqa.qa.search import Searcher

REPO = Path(__file__).resolve().parents[1]
SEED_CORPUS = REPO / "documents"


def _judge(q: GoldQuestion, answer, spans: list[tuple[int, str, int, int]], k: int) -> dict:
    """Per-question scores. A result is relevant when it covers most of some gold evidence."""
    hits = answer.hits[:k]
    relevant, gains, covered = [], [], set()
    for h in hits:
        # SQuAD gold is a whole context: any passage of it is the gold passage
        match = {n for n, src, a, b in spans
                 if src == h.source and (q.kind == "squad" or overlaps((h.start, h.end), (a, b)))}
        relevant.append(bool(match))
        gains.append(1.0 if match - covered else 0.0)
        covered |= match
    row = {"id": q.id, "kind": q.kind, "question": q.question, "found": answer.found,
           "top": hits[0].text[:80] if hits else None, "top_source": hits[0].source if hits else None,
           "top_dense": max((h.dense for h in hits), default=0.0)}  # what the no-answer threshold is tuned on
    if q.kind == "negative":
        row["refused"] = not answer.found
        return row
    row.update({f"R@{n}": recall_at(relevant, n) for n in range(1, k + 1)})
    row["MRR@10"] = mrr_at(relevant, 10)
    row["nDCG@10"] = ndcg_at(gains, len(q.evidence), 10)
    row["evidence_recall"] = len(covered) / len(q.evidence) if q.evidence else 0.0
    row["refused"] = not answer.found
    if q.kind == "aggregate":
        predicted = {g.city for g in (answer.groups or [])}
        p, r, f = set_prf(predicted, set(q.cities))
        row.update({"city_P": p, "city_R": r, "city_F1": f, "cities": sorted(predicted)})
    if hits and q.kind == "squad":  # the answering sentence must contain the dataset's answer
        row["answer_ok"] = relevant[0] and bool(q.answer) and q.answer.replace(" ", "") in (hits[0].answer or "").replace(" ", "")
    elif hits:
        top = hits[0]
        row["answer_ok"] = any(src == top.source and overlaps((top.answer_start, top.answer_end), (a, b))
                               for _, src, a, b in spans)
        if q.answer:
            row["span_em"] = (top.answer_span or "").replace(" ", "") == q.answer.replace(" ", "")
            row["answer_span"] = top.answer_span
    return row


def evaluate(searcher: Searcher, gold: list[GoldQuestion], modes: list[str], k: int, progress: bool = True) -> dict:
    texts = {d.source: d.text for d in searcher.index.docs.values()}
    spans = {q.id: locate(q, texts) for q in gold}
    rows: dict[str, list[dict]] = {}
    timings: dict[str, float] = {}
    if any(m != "bm25" for m in modes):
        searcher.prime([q.question for q in gold], progress=progress)
    for mode in modes:
        t0 = time.perf_counter()
        rows[mode] = [
            _judge(q, searcher.ask(q.question, top_k=k, mode=mode), spans[q.id], k)
            for q in tqdm(gold, desc=f"eval {mode}", unit="q", disable=not progress)
        ]
        timings[mode] = (time.perf_counter() - t0) / max(1, len(gold))
    return {"rows": rows, "k": k, "seconds_per_question": timings}


def summarize(result: dict) -> dict:
    """mode → kind → metric → value (kind 'all' covers every answerable question)."""
    k = result["k"]
    out: dict = {}
    for mode, rows in result["rows"].items():
        by_kind = defaultdict(list)
        for r in rows:
            by_kind[r["kind"]].append(r)
            if r["kind"] != "negative":
                by_kind["all"].append(r)
        out[mode] = {}
        for kind, rs in by_kind.items():
            if kind == "negative":
                out[mode][kind] = {"n": len(rs), "refusal": mean([float(r["refused"]) for r in rs])}
                continue
            m = {"n": len(rs)}
            for name in ("R@1", "R@5", f"R@{k}", "MRR@10", "nDCG@10", "evidence_recall"):
                m[name] = mean([r[name] for r in rs if name in r])
            m["false_refusal"] = mean([float(r["refused"]) for r in rs])
            if kind == "aggregate":
                for name in ("city_P", "city_R", "city_F1"):
                    m[name] = mean([r[name] for r in rs])
            oks = [float(r["answer_ok"]) for r in rs if "answer_ok" in r]
            if oks:
                m["answer_sentence"] = mean(oks)
            ems = [float(r["span_em"]) for r in rs if "span_em" in r]
            if ems:
                m["span_em"] = mean(ems)
            out[mode][kind] = m
        out[mode]["curve"] = [mean([r[f"R@{n}"] for r in rows if r["kind"] != "negative"]) for n in range(1, k + 1)]
    return out


def _fmt(v) -> str:
    return "—" if v is None or v != v else (f"{v:.3f}" if isinstance(v, float) else str(v))


def table(summary: dict, k: int) -> str:
    cols = ["n", "R@1", "R@5", f"R@{k}", "MRR@10", "nDCG@10", "answer_sentence", "span_em", "city_F1", "city_P", "city_R",
            "evidence_recall", "false_refusal", "refusal"]
    lines = ["| mode | kind | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for mode, kinds in summary.items():
        for kind in ["all", *KINDS, "squad"]:
            if kind in kinds:
                lines.append(f"| {mode} | {kind} | " + " | ".join(_fmt(kinds[kind].get(c)) for c in cols) + " |")
    return "\n".join(lines)


def failures(result: dict, mode: str = "hybrid", limit: int = 40) -> list[str]:
    out = []
    for r in result["rows"].get(mode, []):
        if r["kind"] == "negative":
            bad = not r["refused"]
            why = "answered a question the corpus cannot answer"
        elif r["kind"] == "aggregate":
            bad = r["city_F1"] < 1.0
            why = f"cities {r['cities']}"
        else:
            bad = r["R@5"] == 0.0 or r.get("refused")
            why = "refused" if r.get("refused") else "gold evidence not in top 5"
        if bad:
            out.append(f"- {r['id']} {r['question']} — {why}; first instead: {r['top_source']}: {r['top']}")
    return out[:limit]


def plot(summary: dict, k: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, kinds in summary.items():
        ax.plot(range(1, k + 1), kinds["curve"], marker="o", label=mode)
    ax.set_xlabel("k")
    ax.set_ylabel("Recall@k (answerable questions)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def squad_gold(path: Path, corpus_dir: Path) -> list[GoldQuestion]:
    """Write each SQuAD context as one document (once) and make its questions gold for it."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    corpus_dir.mkdir(parents=True, exist_ok=True)
    gold = []
    name_of: dict[str, str] = {}  # the same context twice is one document
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8"))["data"]
        for art in data:
            for para in art["paragraphs"]:
                ctx = normalize(para["context"]).strip()  # as the loader will read it back
                name = name_of.setdefault(ctx, f"{f.stem}-{para['qas'][0]['id'].rsplit('_QUERY', 1)[0] if para['qas'] else len(gold)}.txt")
                doc = corpus_dir / name
                if not doc.exists():
                    doc.write_text(ctx, encoding="utf-8")
                for qa in para["qas"]:
                    if not qa["question"].strip():  # the dataset has a few blank questions
                        continue
                    ans = qa["answers"][0]["text"] if qa.get("answers") else None
                    gold.append(GoldQuestion(id=qa["id"], kind="squad", question=qa["question"],
                                             evidence=[_whole(name, ctx)], answer=ans))
    return gold


def _whole(source: str, ctx: str):
    from policyqa.eval.gold import Evidence

    return Evidence(source=source, text=ctx)


def run(settings: Settings, gold: list[GoldQuestion], modes: list[str], k: int, report_dir: Path, title: str) -> dict:
    report = build(settings, progress=True)
    if report.changed:
        print(report.summary(), file=sys.stderr)
    searcher = Searcher(settings)
    result = evaluate(searcher, gold, modes, k)
    summary = summarize(result)
    report_dir.mkdir(parents=True, exist_ok=True)
    md = [f"# {title}", "", f"{len(gold)} questions, k={k}, model {searcher.index.model}, "
          f"chunker {searcher.index.manifest['chunker']}"
          + (f", reranker {settings.reranker} (top {settings.retrieval.rerank_depth})" if settings.reranker else ""),
          "", table(summary, k), "",
          "seconds per question: " + ", ".join(f"{m} {s * 1000:.0f} ms" for m, s in result["seconds_per_question"].items()),
          "", "## Failing questions (hybrid)", "", *(failures(result) or ["none"]), "", "![Recall@k](recall_at_k.png)"]
    (report_dir / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    (report_dir / "report.json").write_text(json.dumps({"summary": summary, **result}, ensure_ascii=False, indent=1), encoding="utf-8")
    plot(summary, k, report_dir / "recall_at_k.png")
    return {"summary": summary, "result": result}


def main(args, base: Settings) -> int:
    """`policyqa eval`: the CLI hands over its parsed flags and the settings they make."""
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    report_dir = Path(args.report)
    if args.squad:
        path = Path(args.squad)
        if not path.exists():
            raise FileNotFoundError(f"SQuAD data {path} not found")
        work = REPO / "var" / "eval-squad" / path.stem
        # --index keeps one index per model side by side (a model switch re-embeds every passage)
        settings = replace(base, corpus_dir=work / "corpus",
                           index_dir=base.index_dir if getattr(args, "index", None) else work / "index",
                           retrieval=replace(base.retrieval, understand_query=False))
        gold = squad_gold(path, settings.corpus_dir)
        title = f"Retrieval evaluation: {path.name} (SQuAD format)"
    else:
        corpus = base.corpus_dir if getattr(args, "corpus", None) else SEED_CORPUS
        index = base.index_dir if getattr(args, "index", None) else REPO / "var" / "eval-index"
        settings = replace(base, corpus_dir=corpus, index_dir=index)
        gold = load_gold(Path(args.gold) if args.gold else GOLD_FILE)
        title = "Retrieval evaluation: seed gold set"
    if args.limit:
        gold = gold[: args.limit]
    kept = kept_model(settings) if getattr(args, "keep_index_model", False) else None
    if kept:  # an index of another model than the default is evaluated with its own, never re-embedded silently
        settings, note = kept
        print(note, file=sys.stderr)
    out = run(settings, gold, modes, args.k, report_dir, title)
    print(table(out["summary"], args.k))
    fails = failures(out["result"])
    if fails:
        print(f"\nfailing questions (hybrid), {len(fails)}:")
        print("\n".join(fails))
    # the full seed run has the lifecycle and places sets beside it (not a CMRC, own-gold or --limit run)
    seed_run = not (args.squad or args.limit or args.gold or getattr(args, "corpus", None))
    if seed_run:  # statuses, 文号 lookup, --in-force, timeline (eval/lifecycle.py)
        from policyqa.eval import lifecycle

        lc = lifecycle.run(base, SEED_CORPUS, REPO / "var" / "eval-lifecycle", report_dir)
        print("\n" + lifecycle.table(lc["summary"]))
        print("\n".join(lifecycle.failures(lc) or ["lifecycle failures: none"]))
    if seed_run:  # place labels, and questions naming a place beside the others (eval/places.py)
        from policyqa.eval import places

        result, text = places.run(base, REPO / "var" / "eval-places-index", args.k)
        print("\n" + text)
        (report_dir / "places.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        with (report_dir / "report.md").open("a", encoding="utf-8") as f:
            f.write("\n" + text + "\n")
    print(f"\nreport: {report_dir / 'report.md'} (+ report.json, recall_at_k.png, lifecycle.md, places.json)")
    return 0
