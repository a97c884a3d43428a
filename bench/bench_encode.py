"""Every encoder variant side by side: passages/s, agreement with fp32, question latency, seed MRR@10.

    .venv/bin/python bench/bench_encode.py --cmrc ../shared/datasets/cmrc2018 [--contexts 1000] [--rounds 4]
        [--variants fp32,bf16,onnx,onnx-int8] [--no-eval] [--build-cmrc]

Passages: the seed corpus's passages, and the first passage of each of the first N CMRC2018
contexts (read in place, never copied into the repository). Each round encodes the next
slice with every variant in turn, so every variant sees the same texts under the same
load; speed is the median over rounds of the ratio to fp32 in that round (wall clock), with
CPU time alongside (less disturbed by other processes on shared cores). Agreement: cosine of
each passage vector to fp32's, and whether the nearest passage to each question (seed gold
questions over seed passages, CMRC questions over the CMRC passages) is fp32's nearest; the
"mixed" column asks fp32 passages with the variant's question vectors (an index built with
one encoder asked with another). Question latency: one question at a time, as `ask` does.
MRR@10: `policyqa eval` (seed gold set, hybrid and dense) with an index built by each variant.
--build-cmrc also times a whole `policyqa build` of the CMRC2018 corpus (fresh index, empty
cache) with --encoder fp32 and with the default, each in a child process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import REPO, paragraphs

from policyqa.config import Settings
from policyqa.corpus.loaders import normalize
from policyqa.corpus.reader import read_corpus
from policyqa.encode import embedder, encoders
from policyqa.eval.gold import load_gold


def cmrc(path: Path, n: int) -> tuple[list[str], list[tuple[str, int]]]:
    """First passage (≤ 512 characters, as the chunker's limit) of the first n distinct contexts; their questions."""
    texts, questions, seen = [], [], {}
    for para in paragraphs(path):
        ctx = normalize(para["context"]).strip()
        if ctx in seen or len(texts) >= n:
            continue
        seen[ctx] = len(texts)
        texts.append(ctx[:512])
        questions += [(qa["question"], seen[ctx]) for qa in para["qas"][:1] if qa["question"].strip()]
    return texts, questions


def timed_passages(enc, texts: list[str], batch_size: int) -> tuple[np.ndarray, float, float]:
    w, c = time.perf_counter(), time.process_time()
    v = enc.passages(texts, batch_size)
    return v, time.perf_counter() - w, time.process_time() - c


def speed(encs: dict, texts: list[str], rounds: int, batch_size: int) -> dict:
    """Alternating rounds over slices of `texts`; per variant: vectors, passages/s, median ratios to fp32."""
    slices = [texts[i::rounds] for i in range(rounds)]
    out = {v: {"vecs": [None] * len(texts), "wall": [], "cpu": []} for v in encs}
    for r, part in enumerate(slices):
        idx = list(range(r, len(texts), rounds))
        for v, enc in encs.items():
            vecs, w, c = timed_passages(enc, part, batch_size)
            out[v]["wall"].append(w)
            out[v]["cpu"].append(c)
            for i, vec in zip(idx, vecs):
                out[v]["vecs"][i] = vec
            print(f"  round {r + 1}/{rounds} {v}: {len(part) / w:.1f} passages/s", file=sys.stderr)
    for v in encs:
        o = out[v]
        o["vecs"] = np.vstack(o["vecs"])
        o["pps"] = len(texts) / sum(o["wall"])
        o["x_wall"] = statistics.median(f / m for f, m in zip(out["fp32"]["wall"], o["wall"]))
        o["x_cpu"] = statistics.median(f / m for f, m in zip(out["fp32"]["cpu"], o["cpu"]))
    return out


def agreement(encs: dict, sp: dict, questions: list[str]) -> dict:
    ref_p = sp["fp32"]["vecs"]
    ref_q = encs["fp32"].questions(questions)
    ref_top = np.argmax(ref_q @ ref_p.T, axis=1)
    res = {}
    for v, enc in encs.items():
        q = ref_q if v == "fp32" else enc.questions(questions)
        cos = np.sum(sp[v]["vecs"] * ref_p, axis=1)
        res[v] = {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
                  "top1": float(np.mean(np.argmax(q @ sp[v]["vecs"].T, axis=1) == ref_top)),
                  "top1_mixed": float(np.mean(np.argmax(q @ ref_p.T, axis=1) == ref_top))}
    return res


def latency(encs: dict, questions: list[str]) -> dict:
    res = {}
    for v, enc in encs.items():
        enc.questions(questions[:3])  # warm
        wall, cpu = [], []
        for q in questions:
            w, c = time.perf_counter(), time.process_time()
            enc.questions([q])
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        res[v] = (statistics.median(wall) * 1000, float(np.percentile(wall, 95)) * 1000, statistics.median(cpu) * 1000)
    return res


def seed_mrr(variants: list[str], base: Settings) -> dict:
    """MRR@10 per variant (index and questions), plus a bf16 index asked with fp32 questions."""
    from policyqa.eval.harness import evaluate, summarize
    from policyqa.index.build import build
    from policyqa.qa.search import Searcher

    gold = load_gold()
    res = {}
    runs = [(v, v) for v in variants] + ([("bf16", "fp32")] if {"bf16", "fp32"} <= set(variants) else [])
    for built, asked in runs:
        with tempfile.TemporaryDirectory() as tmp:
            s = replace(base, corpus_dir=REPO / "documents", index_dir=Path(tmp) / "index")
            build(replace(s, encoder=built), progress=False)
            summary = summarize(evaluate(Searcher(replace(s, encoder=asked)), gold, ["dense", "hybrid"], 10))
            name = built if built == asked else f"{built} index, {asked} questions"
            res[name] = {m: summary[m]["all"]["MRR@10"] for m in ("dense", "hybrid")}
    return res


def build_cmrc(data: Path, encoder_flags: list[str], limit: int | None) -> dict:
    """Seconds and passages/s of a whole `policyqa build` of the CMRC2018 contexts, fresh index, one child each."""
    from policyqa.eval.harness import squad_gold

    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        squad_gold(data, corpus)
        for extra in sorted(corpus.iterdir())[limit:] if limit else []:
            extra.unlink()
        for flag in encoder_flags:
            index = Path(tmp) / f"index-{flag}"
            t = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "policyqa.cli", "build", "--corpus", str(corpus), "--index", str(index),
                                  "--encoder", flag, "--quiet"], capture_output=True, text=True)
            seconds = time.perf_counter() - t
            if run.returncode:
                raise SystemExit(run.stderr)
            manifest = json.loads(next(index.glob("gen-*/manifest.json")).read_text(encoding="utf-8"))
            res[flag] = (seconds, manifest["passages"], manifest["encoder"])
            print(f"  build --encoder {flag}: {seconds:.1f}s", file=sys.stderr)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmrc", help="CMRC2018 folder (SQuAD-format .json); omitted: seed passages only")
    ap.add_argument("--contexts", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--variants", help="comma-separated (default: fp32, bf16 and the onnx ones when installed)")
    ap.add_argument("--no-eval", action="store_true", help="skip the seed MRR@10 per variant")
    ap.add_argument("--build-cmrc", action="store_true", help="also time whole builds of the CMRC2018 corpus (slow)")
    ap.add_argument("--build-encoders", default="fp32,auto", help="encoders to build with, in this order")
    ap.add_argument("--build-contexts", type=int, help="build only the first N context files (default: all 1,104)")
    args = ap.parse_args()

    base = Settings()
    device = embedder.resolve_device(base.device)
    variants = args.variants.split(",") if args.variants else \
        ["fp32", "bf16"] + (["onnx", "onnx-int8"] if encoders.onnx_available() else [])
    default = encoders.resolve("auto", device)
    import torch

    print(f"CPU: {torch.backends.cpu.get_cpu_capability()}, bf16 instructions: "
          f"{sorted(encoders.BF16_FLAGS & encoders.cpu_flags()) or 'none'}; torch threads {torch.get_num_threads()}; "
          f"default (auto) encoder here: {default}; onnxruntime installed: {encoders.onnx_available()}")
    with tempfile.TemporaryDirectory() as cache:
        encs = {v: encoders.load(base.model, v, base.device, Path(cache)) for v in variants}
        for enc in encs.values():
            enc.passages(["预热"] * 4)
        docs, _ = read_corpus(REPO / "documents", base.chunking)
        sets = [("seed", [p.indexed_text for d in docs for p in d.passages], [q.question for q in load_gold()])]
        if args.cmrc and args.contexts > 0:
            texts, qs = cmrc(Path(args.cmrc), args.contexts)
            sets.append((f"CMRC2018 ({len(texts)} contexts)", texts, [q for q, _ in qs]))
        rows = []
        for name, texts, questions in sets:
            print(f"{name}: {len(texts)} passages, {len(questions)} questions", file=sys.stderr)
            sp = speed(encs, texts, args.rounds if len(texts) >= 4 * args.rounds else 1, base.batch_size)
            ag = agreement(encs, sp, questions)
            rows.append((name, len(texts), sp, ag))
        lat = latency(encs, [q.question for q in load_gold()][:40])

    print("\nOn 2 CPU cores shared with other work: wall-clock figures move by tens of percent between runs; "
          "ratios come from the same rounds.\n")
    print("| passages | variant | passages/s | × fp32 (wall) | × fp32 (CPU time) | mean cosine to fp32 | min cosine "
          "| same top-1 as fp32 | same top-1, fp32 passages |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _n, sp, ag in rows:
        for v in variants:
            print(f"| {name} | {v} | {sp[v]['pps']:.1f} | {sp[v]['x_wall']:.2f} | {sp[v]['x_cpu']:.2f} | {ag[v]['cos_mean']:.5f} "
                  f"| {ag[v]['cos_min']:.5f} | {ag[v]['top1']:.3f} | {ag[v]['top1_mixed']:.3f} |")
    print("\n| variant | one question p50 ms | p95 ms | CPU ms p50 |")
    print("|---|---:|---:|---:|")
    for v, (p50, p95, cpu) in lat.items():
        print(f"| {v} | {p50:.1f} | {p95:.1f} | {cpu:.1f} |")
    if not args.no_eval:
        mrr = seed_mrr(variants, base)
        print("\n| variant | seed MRR@10 hybrid | Δ vs fp32 | dense | Δ vs fp32 |")
        print("|---|---:|---:|---:|---:|")
        for v in mrr:
            print(f"| {v} | {mrr[v]['hybrid']:.3f} | {mrr[v]['hybrid'] - mrr['fp32']['hybrid']:+.3f} "
                  f"| {mrr[v]['dense']:.3f} | {mrr[v]['dense'] - mrr['fp32']['dense']:+.3f} |")
    if args.build_cmrc and args.cmrc:
        b = build_cmrc(Path(args.cmrc), args.build_encoders.split(","), args.build_contexts)
        print("\n| policyqa build of CMRC2018 | encoder | seconds | passages | passages/s | × fp32 |")
        print("|---|---|---:|---:|---:|---:|")
        ref = b["fp32"][0] if "fp32" in b else float("nan")
        for flag, (sec, n, enc) in b.items():
            print(f"| --encoder {flag} | {enc} | {sec:.1f} | {n} | {n / sec:.2f} | {ref / sec:.2f} |")


if __name__ == "__main__":
    main()
