"""The default model and encoder against the alternatives, side by side: encoding, whole builds, fresh asks.

    .venv/bin/python bench/bench_encoders.py [--contexts 400] [--rounds 3] [--parts encode,build,ask]
        [--build-rounds 1] [--ask-rounds 3]

encode: the first passage of each of the first N CMRC2018 contexts (read in place), encoded in
alternating rounds (each round the next slice, every variant in turn) by e5-small with the
default encoder (`auto`), e5-small in fp32, and m3e-small with the encoder today's default
picked (bf16 where the CPU has the units, else fp32). Per variant: passages/s, the median ratio
of wall and CPU time against e5-small fp32 and against m3e-small, minimum cosine against the
same model's fp32 vectors, and whether each CMRC question's nearest passage is fp32's.
build: whole `policyqa build` runs (child processes, fresh index and cache) of the first N
CMRC2018 context files with the same three settings, alternated `--build-rounds` times.
ask: the seed documents built with each model; a fresh `policyqa ask` (child process, p50 of
`--ask-rounds`), whether it imported torch, and `ask --questions` over the 134 gold questions.
Ratios come from the same rounds: on two shared cores wall-clock figures move by tens of percent.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_encode import cmrc
from common import CMRC, REPO

from policyqa.encode import embedder, encoders
from policyqa.eval.gold import load_gold

E5, M3E = "e5-small", "m3e-small"


def m3e_today(device: str) -> str:
    """The encoder m3e-small's default build used before OpenVINO: bf16 on a CPU with the units, else fp32."""
    return "bf16" if encoders.usable("bf16", device) else "fp32"


def variants(device: str) -> dict[str, tuple[str, str]]:
    return {f"{E5} {encoders.resolve('auto', device)} (default)": (E5, encoders.resolve("auto", device)),
            f"{E5} fp32": (E5, "fp32"), f"{M3E} {m3e_today(device)} (before)": (M3E, m3e_today(device))}


def encode_part(n: int, rounds: int, batch: int, device: str, cache: Path) -> None:
    texts, qs = cmrc(CMRC, n)
    questions = [q for q, _ in qs]
    vs = variants(device)
    encs = {name: encoders.load(m, v, None, cache) for name, (m, v) in vs.items()}
    refs = {m: encoders.load(m, "fp32", None, cache) for m in (E5, M3E)}
    for e in encs.values():
        e.passages(["预热"] * 4)
    wall = {k: [] for k in encs}
    cpu = {k: [] for k in encs}
    vecs = {k: np.zeros((len(texts), e.dimension), np.float32) for k, e in encs.items()}
    for r in range(rounds):
        idx = list(range(r, len(texts), rounds))
        part = [texts[i] for i in idx]
        for k, e in encs.items():
            w, c = time.perf_counter(), time.process_time()
            vecs[k][idx] = e.passages(part, batch)
            wall[k].append(time.perf_counter() - w)
            cpu[k].append(time.process_time() - c)
            print(f"  round {r + 1}/{rounds} {k}: {len(part) / wall[k][-1]:.2f} passages/s", file=sys.stderr)
    names = list(encs)
    e5_fp32, m3e = names[1], names[2]
    print(f"\n{len(texts)} CMRC2018 passages, batches of {batch}, {rounds} alternating rounds; CPU "
          f"{'with' if encoders.bf16_units() else 'without'} bf16 units\n")
    print("| variant | passages/s | × e5 fp32 (wall) | × e5 fp32 (CPU) | × m3e before (wall) | × m3e before (CPU) "
          "| min cosine to its fp32 | same top-1 as its fp32 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k, (model, variant) in vs.items():
        ratio = lambda t, ref, k=k: statistics.median(a / b for a, b in zip(t[ref], t[k]))  # noqa: E731
        if variant == "fp32":
            ref = vecs[k]
        elif model == E5:
            ref = vecs[e5_fp32]
        else:
            ref = refs[model].passages(texts, batch)
        q_ref = refs[model].questions(questions)
        q = encs[k].questions(questions)
        same = float(np.mean(np.argmax(q @ vecs[k].T, 1) == np.argmax(q_ref @ ref.T, 1)))
        cos = float(np.sum(vecs[k] * ref, 1).min())
        print(f"| {k} | {len(texts) / sum(wall[k]):.2f} | {ratio(wall, e5_fp32):.2f} | {ratio(cpu, e5_fp32):.2f} "
              f"| {ratio(wall, m3e):.2f} | {ratio(cpu, m3e):.2f} | {cos:.5f} | {same:.3f} |")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policyqa.cli", *args], capture_output=True, text=True)


def build_part(n: int, rounds: int, device: str, tmp: Path) -> None:
    from policyqa.eval.harness import squad_gold

    corpus = tmp / "cmrc"
    squad_gold(CMRC, corpus)
    for extra in sorted(corpus.iterdir())[n:]:
        extra.unlink()
    runs = {name: (m, v) for name, (m, v) in variants(device).items()}
    seconds = {k: [] for k in runs}
    for r in range(rounds):
        for k, (model, variant) in runs.items():
            index = tmp / f"build-{r}-{model}-{variant}"
            flags = ["--model", model] + ([] if k.endswith("(default)") else ["--encoder", variant])
            t = time.perf_counter()
            run = cli("build", "--corpus", str(corpus), "--index", str(index), "--quiet", *flags)
            seconds[k].append(time.perf_counter() - t)
            if run.returncode:
                raise SystemExit(run.stderr)
            print(f"  build round {r + 1}/{rounds} {k}: {seconds[k][-1]:.1f}s", file=sys.stderr)
    names = list(runs)
    print(f"\n`policyqa build` of {n} CMRC2018 context files, fresh index and cache, {rounds} alternating round(s)\n")
    print("| build | seconds (each round) | × e5 fp32 | × m3e before |")
    print("|---|---|---:|---:|")
    for k in names:
        ratio = lambda ref, k=k: statistics.median(a / b for a, b in zip(seconds[ref], seconds[k]))  # noqa: E731
        print(f"| {k} | {' / '.join(f'{s:.1f}' for s in seconds[k])} | {ratio(names[1]):.2f} | {ratio(names[2]):.2f} |")


def ask_part(rounds: int, device: str, tmp: Path) -> None:
    code = ("import sys; from policyqa.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr); sys.exit(rc)")
    qfile = tmp / "questions.txt"
    qfile.write_text("\n".join(q.question for q in load_gold()) + "\n", encoding="utf-8")
    models = {E5: [], M3E: []}
    for model in models:
        index = tmp / f"seed-{model}"
        run = cli("build", "--corpus", str(REPO / "documents"), "--index", str(index), "--model", model, "--quiet")
        if run.returncode:
            raise SystemExit(run.stderr)
        cli("ask", "科技特派员", "--index", str(index))  # exports the question engine once, as the first ask does
    fresh, batch, torch_seen = {m: [] for m in models}, {m: [] for m in models}, {}
    for _ in range(rounds):
        for model in models:
            index = str(tmp / f"seed-{model}")
            t = time.perf_counter()
            run = subprocess.run([sys.executable, "-c", code, "ask", "哪些城市设立了科技特派员工作站", "--index", index],
                                 capture_output=True, text=True)
            fresh[model].append(time.perf_counter() - t)
            torch_seen[model] = run.stderr.strip().splitlines()[-1]
            t = time.perf_counter()
            cli("ask", "--questions", str(qfile), "--index", index)
            batch[model].append(time.perf_counter() - t)
    med = {m: (statistics.median(fresh[m]), statistics.median(batch[m])) for m in models}
    print(f"\nSeed index (5 documents); median of {rounds} alternating rounds, child processes\n")
    print("| model | fresh `ask` s | × m3e | torch imported | `ask --questions` (134) s | × m3e |")
    print("|---|---:|---:|---|---:|---:|")
    for m in models:
        print(f"| {m} | {med[m][0]:.2f} | {med[m][0] / med[M3E][0]:.2f} | {torch_seen[m]} | {med[m][1]:.1f} "
              f"| {med[m][1] / med[M3E][1]:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--parts", default="encode,build,ask")
    ap.add_argument("--build-rounds", type=int, default=1)
    ap.add_argument("--ask-rounds", type=int, default=3)
    args = ap.parse_args()
    device = embedder.resolve_device(None)
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
        if "encode" in parts:
            encode_part(args.contexts, args.rounds, args.batch_size, device, Path(tmp) / "encoders")
        if "build" in parts:
            build_part(args.contexts, args.build_rounds, device, Path(tmp))
        if "ask" in parts:
            ask_part(args.ask_rounds, device, Path(tmp))


if __name__ == "__main__":
    main()
