"""What the index costs at corpus scale: build rate and memory, a fresh `ask`, serving memory,
query latency, and adding or removing one document, at N passages.

    .venv/bin/python bench/bench_scale.py                      # N = 5,000 (about a minute)
    .venv/bin/python bench/bench_scale.py --n 100000           # the issue's first size (minutes)
    .venv/bin/python bench/bench_scale.py --n 100000 --keep    # keep var/bench-scale/N for another look
    .venv/bin/python bench/bench_scale.py --backend milvus      # the same steps served from a milvus-lite file

Why: the people who use this keep 100,000–1,000,000 passages, and every cost must follow the
change, not the corpus. The corpus is the CMRC2018 contexts (CC-BY-SA, read from
../shared/datasets/cmrc2018, never copied into the repository) and the five seed documents,
copied with a distinguishing first line each until N passages, so none is a duplicate.

**The embedding model is replaced by a seeded random encoder** (a unit vector per text, drawn
from a generator seeded by the text's hash): every figure is the index's own cost. The model's
rate is bench_pipeline's job. Every child process (build, ask, serve, CLI add/remove) installs
the same encoder before it runs, and the index records the default model's (e5-small's) weight
hash (unless --no-model), so the first answer is also timed as a user gets it: a plain `policyqa
ask` in a fresh process, loading e5-small and encoding the question with it (against random
passage vectors: the ranking means nothing, the time is real), once right after the build (which
prepares the question engine as a real build does) and once more.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import REPO, base_texts, p50_p95, questions

MODEL, DIM = "e5-small", 384  # the default model, and its dimension
SEED = 20240601
ENCODE_SECONDS = [0.0]

TARGETS = {  # (100k, 1M) from issue 13
    "build throughput, embedding excluded (passages/s)": (">= 1000", ">= 1000"),
    "build peak RSS (MiB)": ("<= 2048", "<= 4096"),
    "first answer, fresh `policyqa ask` (s)": ("<= 8", "<= 15"),
    "serve RSS (MiB)": ("<= 1536", "<= 3072"),
    "warm hybrid p50 / p95 (ms)": ("<= 40 / 120", "<= 100 / 300"),
    "哪些城市 question p50 (ms)": ("<= 150", "<= 400"),
    "add one document, warm process (s)": ("<= 0.5", "<= 1"),
    "remove one document, warm process (s)": ("<= 0.5", "<= 1"),
    "add one document, CLI (s)": ("<= 8", "<= 10"),
    "remove one document, CLI (s)": ("<= 8", "<= 10"),
}
CITY_QUESTIONS = ["哪些城市设立了科技特派员工作站", "哪些城市选派了科技特派员", "哪些城市提出了高新技术企业数量目标",
                  "哪些地方建设了星创天地", "哪几个城市开展了科技成果转化"]


def random_encode(name, texts, batch_size=32, device=None, progress=False):
    """A unit vector per text, the same for the same text in every process."""
    t = time.perf_counter()
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") ^ SEED
        v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        out[i] = v / np.linalg.norm(v)
    ENCODE_SECONDS[0] += time.perf_counter() - t
    return out


class RandomEncoder:
    """Stands in for an encode.Encoder, passed to build, add, remove and the backend: passages and
    questions get random_encode's vectors, and the index records the fingerprint it claims."""

    model = MODEL
    variant = "fp32"
    dimension = DIM

    @property
    def fingerprint(self) -> str:  # the model's own unless --no-model: a real `policyqa ask` then opens the index
        return os.environ.get(FINGERPRINT_ENV) or f"random-{SEED}-{DIM}"

    def passages(self, texts, batch_size=32, bar=None):
        out = random_encode("random", texts)
        if bar is not None:
            bar.update(len(texts))
        return out

    def questions(self, texts, bar=None):
        return self.passages(texts, bar=bar)


def install_random_encoder() -> None:
    """For the one child that runs the real command line (`cli`): a fresh `policyqa` process has no way
    to be handed an encoder, so its model functions are replaced. Every other child passes RandomEncoder."""
    from policyqa.encode import embedder, encoders

    embedder.encode = random_encode
    encoders.load = lambda *a, **k: RandomEncoder()
    encoders.light_questions = lambda *a, **k: None  # else questions go through the model's weights in numpy
    fp = os.environ.get(FINGERPRINT_ENV) or f"random-{SEED}-{DIM}"
    embedder.fingerprint = lambda name, device=None: fp
    embedder.dimension = lambda name, device=None: DIM


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- the corpus ---------------------------------------------------------------------------------

def write_corpus(folder: Path, n: int) -> int:
    """Copies of the base texts, each with its own first line, until about n passages; returns files written."""
    from policyqa.corpus.sections import ChunkParams, passages
    from policyqa.corpus.types import Extracted

    bases = base_texts()
    params = ChunkParams()
    sizes = [max(1, len(passages("x", Extracted(t), name, params))) for name, t in bases]
    folder.mkdir(parents=True, exist_ok=True)
    total, i = 0, 0
    while total < n:
        name, text = bases[i % len(bases)]
        sub = folder / f"part{i // 5000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"{i:07d}-{name}.txt").write_text(f"第{i}份汇编副本（编号{i:07d}）\n{text}", encoding="utf-8")
        total += sizes[i % len(bases)]
        i += 1
    return i


# -- children: each a fresh process with the random encoder ---------------------------------------

BACKEND: dict = {}  # backend=..., milvus_uri=... for every Settings a child makes (empty: the embedded index)


def settings(**kw):
    from policyqa.config import Settings

    return Settings().with_(**kw, **BACKEND)


def backend_flags() -> list[str]:
    return ["--backend", BACKEND["backend"], "--milvus-uri", BACKEND["milvus_uri"]] if BACKEND else []


def child(argv: list[str]) -> None:
    from policyqa.index.backends import open_backend

    encoder = RandomEncoder()
    if argv[0] == "--backend":
        BACKEND.update(backend=argv[1], milvus_uri=argv[2])
        argv = argv[3:]
    kind, rest = argv[0], argv[1:]
    if kind == "build":
        from policyqa.index.build import build

        corpus, index = map(Path, rest[:2])
        t = time.perf_counter()
        report = build(settings(corpus_dir=corpus, index_dir=index), progress=False, encoder=encoder)
        if os.environ.get(FINGERPRINT_ENV):  # as a build with the real model does: the first ask needs no export
            from policyqa.index.build import prepare_first_question

            prepare_first_question(index)
        seconds = time.perf_counter() - t
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime  # worker processes included
        print(json.dumps({"seconds": seconds, "encode": ENCODE_SECONDS[0], "passages": report.passages,
                          "documents": report.documents, "rss": rss_mib(), "cpu": cpu}))
    elif kind in ("cli", "real"):  # real: the command as a user runs it, with the real model
        from policyqa.cli import main

        if kind == "cli":
            install_random_encoder()
        rc = main(rest + (backend_flags() if rest and rest[0] in ("ask", "add", "remove") else []))
        print(json.dumps({"peak": rss_mib()}))  # its own: the children's peak getrusage reports is the build's by then
        sys.exit(rc)
    elif kind == "serve":
        from policyqa.qa.search import Searcher

        index, n_questions = Path(rest[0]), int(rest[1])
        from policyqa.index.store import layout
        from policyqa.index.store.loaded import load

        t = time.perf_counter()
        load(index)  # opening the index alone: what a real server does before its first question
        load_s = time.perf_counter() - t
        layout.forget_parsed()
        t = time.perf_counter()
        sets = settings(index_dir=index)
        s = Searcher(sets, handle=open_backend(sets, encoder=encoder))
        open_s = time.perf_counter() - t
        qs = questions(n_questions)
        s.ask(qs[0])
        times, city = [], []
        for q in qs:
            t = time.perf_counter()
            s.ask(q, top_k=5)
            times.append((time.perf_counter() - t) * 1000)
        for _ in range(3):
            for q in CITY_QUESTIONS:
                t = time.perf_counter()
                s.ask(q, top_k=5)
                city.append((time.perf_counter() - t) * 1000)
        mem = s.index.memory() if hasattr(s.index, "memory") else {}
        print(json.dumps({"open": open_s, "load": load_s, "times": times, "city": city, "rss": current_rss_mib(), "peak": rss_mib(),
                          "memory": mem}))
    elif kind == "update":
        from policyqa.index.update import add_files, remove_sources
        from policyqa.qa.search import Searcher

        corpus, index, new_file, victim = Path(rest[0]), Path(rest[1]), Path(rest[2]), rest[3]
        sets = settings(corpus_dir=corpus, index_dir=index)
        searcher = Searcher(sets, handle=open_backend(sets, encoder=encoder))
        searcher.ask("科技特派员")  # warm: tokenizer, index open
        from policyqa.encode.tokenizer import tokenize

        tokenize("预热")
        # five adds and five removes (an original document first, then four of the added ones):
        # the size-tiered merges make some updates dearer than others, so the median and the worst
        adds, removes, reloads = [], [], []
        for i in range(5):
            doc = new_file.with_name(f"{new_file.stem}-{i}{new_file.suffix}")
            doc.write_text(new_file.read_text(encoding="utf-8") + f"\n第{i}次补充说明。\n", encoding="utf-8")
            t = time.perf_counter()
            add_files(sets, [doc], progress=False, encoder=encoder)
            adds.append(time.perf_counter() - t)
            t = time.perf_counter()
            searcher.ask("科技特派员")
            reloads.append(time.perf_counter() - t)
            t = time.perf_counter()
            remove_sources(sets, [victim if i == 0 else new_file.with_name(f"{new_file.stem}-{i - 1}{new_file.suffix}").name],
                           progress=False, encoder=encoder)
            removes.append(time.perf_counter() - t)
            searcher.ask("科技特派员")
        add_s, remove_s, reload_s = (statistics.median(adds), max(adds)), (statistics.median(removes), max(removes)), \
            statistics.median(reloads)
        print(json.dumps({"add": add_s, "remove": remove_s, "reload_ask": reload_s}))


def _timed(cmd: list[str], what: str, timeout: int = 7200) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak RSS MiB) of a fresh process; its failure ends the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        raise SystemExit(f"{what} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return out.stdout, wall, max(peak, before) / 1024


def run_child(*args: str, timeout: int = 7200) -> tuple[dict | None, float, float]:
    """(the child's JSON line, wall seconds, peak RSS MiB of the child)."""
    pre = ["--backend", BACKEND["backend"], BACKEND["milvus_uri"]] if BACKEND else []
    stdout, wall, peak = _timed([sys.executable, __file__, "--child", *pre, *args], f"child {args[0]}", timeout)
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    return (json.loads(lines[-1]) if lines else None), wall, peak


FINGERPRINT_ENV = "POLICYQA_BENCH_FINGERPRINT"  # set: the index claims MODEL's weights (see real_fingerprint)


def real_fingerprint() -> str | None:
    """MODEL's weight hash, for the random-vector index to carry: then a plain `policyqa ask`
    (the real model, no random encoder) opens it, and its first answer is timed as a user sees it."""
    code = f"from policyqa.encode import embedder; print(embedder.fingerprint({MODEL!r}, 'cpu'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else None


def real_ask(question: str, index: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of a fresh `policyqa ask` with MODEL, no random encoder."""
    asked, wall, _ = run_child("real", "ask", question, "--index", str(index))
    return wall, asked["peak"]


def report(b, b_wall, b_peak, index_s, ask_wall, ask_peak, real, serve, upd, cli_add, cli_rm, n) -> None:
    """The measured figures beside the targets, as a Markdown table."""
    times, city = serve["times"], serve["city"]
    measured = {
        "build throughput, embedding excluded (passages/s)": f"{b['passages'] / index_s:,.0f}",
        "build peak RSS (MiB)": f"{b_peak:,.0f}",
        "first answer, fresh `policyqa ask` (s)": (f"{real[0]:.1f} with {MODEL} (peak RSS {real[1]:,.0f} MiB), "
                                                   f"the first after the build; a later one {real[2]:.1f} "
                                                   f"({real[0] / real[2]:.2f}×); " if real else "")
        + f"{ask_wall:.1f} with the random encoder",
        "serve RSS (MiB)": f"{serve['rss']:,.0f} (Searcher after {len(times) + len(city)} questions; Gradio not included)",
        "warm hybrid p50 / p95 (ms)": "{:.0f} / {:.0f}".format(*p50_p95(times)),
        "哪些城市 question p50 (ms)": f"{statistics.median(city):.0f}",
        "add one document, warm process (s)": f"{upd['add'][0]:.2f} median, {upd['add'][1]:.2f} worst of 5 "
                                               f"(next question reloads in {upd['reload_ask']:.2f})",
        "remove one document, warm process (s)": f"{upd['remove'][0]:.2f} median, {upd['remove'][1]:.2f} worst of 5",
        "add one document, CLI (s)": f"{cli_add:.1f}",
        "remove one document, CLI (s)": f"{cli_rm:.1f}",
    }
    col = 0 if n < 500_000 else 1
    print(f"\n| step (N = {b['passages']:,} passages, {b['documents']:,} documents) | measured | target "
          f"({'100k' if col == 0 else '1M'}) |")
    print("|---|---|---|")
    for k, v in measured.items():
        print(f"| {k} | {v} | {TARGETS[k][col]} |")
    mem = ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in serve["memory"].items())
    print(f"\nindex open (load, a fresh process): {serve['load']:.2f}s; a Searcher ready in the server: {serve['open']:.2f}s "
          "(that includes importing torch for the stand-in encoder's device check, which a real server's numpy "
          f"question engine does not); parts held: {mem}; peak RSS {serve['peak']:.0f} MiB")
    print(f"fresh ask peak RSS {ask_peak:.0f} MiB; (build wall {b_wall:.1f}s includes interpreter start and imports)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=5000, help="passages (default 5,000)")
    p.add_argument("--work", default=str(REPO / "var" / "bench-scale"))
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--keep", action="store_true", help="keep the corpus and index afterwards")
    p.add_argument("--reuse", action="store_true",
                   help="with an index kept by --keep: skip writing the corpus and building, time the rest again")
    p.add_argument("--no-model", action="store_true", help=f"skip timing the {MODEL} load")
    p.add_argument("--backend", choices=["faiss", "milvus"], default="faiss",
                   help="faiss: the embedded index (default); milvus: also synced to a milvus-lite file and served from it")
    p.add_argument("--child", nargs=argparse.REMAINDER)
    a = p.parse_args()
    if a.child:
        return child(a.child)

    work = Path(a.work) / (str(a.n) + ("" if a.backend == "faiss" else f"-{a.backend}"))
    reuse = a.reuse and (work / "build.json").exists()
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
    if not a.no_model:  # every child's index claims MODEL's weights, so a plain `policyqa ask` can open it
        fp = real_fingerprint()
        if fp is None:
            raise SystemExit(f"could not load {MODEL} to take its fingerprint; run with --no-model")
        os.environ[FINGERPRINT_ENV] = fp
    if a.backend == "milvus":
        BACKEND.update(backend="milvus", milvus_uri=str(work / "milvus.db"))
        print("backend: milvus-lite (a pure-Python development twin of Milvus, not its C++ core: not a fast engine)")
    corpus, index = work / "documents", work / "index"
    print(f"bench_scale: N = {a.n:,} passages; ENCODER REPLACED BY A SEEDED RANDOM ONE (index costs only); "
          f"{os.cpu_count()} CPU cores (shared with other work: timings are noisy)")
    t = time.perf_counter()
    if not reuse:
        files = write_corpus(corpus, a.n)
        print(f"corpus: {files:,} files written in {time.perf_counter() - t:.1f}s under {corpus}")
    new_doc = work / "新文件-测试县2023年科技工作要点.txt"
    new_doc.write_text("测试县2023年科技工作要点\n一、建设量子通信实验室\n测试县将建设量子通信联合实验室，引进量子密钥分发设备12套。\n",
                       encoding="utf-8")

    if reuse:  # the kept index has had adds and removes since: its build figures are the first run's
        b, b_wall, b_peak = json.loads((work / "build.json").read_text(encoding="utf-8"))
        print("reusing the kept corpus and index: the build figures below are from the run that built it")
    else:
        b, b_wall, b_peak = run_child("build", str(corpus), str(index))
        (work / "build.json").write_text(json.dumps([b, b_wall, b_peak]), encoding="utf-8")
    # the build process's own peak (its reading workers hold less): the children's peak getrusage reports
    # is the largest of any child so far, and the one that took the model's fingerprint loaded torch
    b_peak = b["rss"]
    index_s = b["seconds"] - b["encode"]
    print(f"build: {b['passages']:,} passages, {b['documents']:,} documents in {b['seconds']:.1f}s "
          f"({b['encode']:.1f}s of it in the random encoder), peak RSS {b_peak:.0f} MiB"
          + (f"; {b['cpu']:.0f} CPU-seconds in all processes ({b['passages'] / max(1e-9, b['cpu'] - b['encode']):,.0f} "
             "passages per CPU-second, a figure other work on the machine moves less)" if "cpu" in b else ""))

    asked, ask_wall, _ = run_child("cli", "ask", "荆州2022年新增了多少家高新技术企业", "--index", str(index))
    ask_peak = asked["peak"]
    real = None if a.no_model else (*real_ask("荆州2022年新增了多少家高新技术企业", index),
                                    real_ask("哪些城市设立了科技特派员工作站", index)[0])
    serve, _, _ = run_child("serve", str(index), str(a.questions))
    present = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.txt"))
    present = [n for n in present if not n.startswith(".")]  # not one set aside in .removed/ by an earlier run
    victim = present[0]
    upd, _, _ = run_child("update", str(corpus), str(index), str(new_doc), victim)
    second = next(n for n in present if n != victim)
    new_doc2 = work / "新文件二.txt"
    new_doc2.write_text("第二份新文件\n一、建设星火科技示范园。\n", encoding="utf-8")
    _, cli_add, _ = run_child("cli", "add", str(new_doc2), "--index", str(index), "--corpus", str(corpus), "--quiet")
    _, cli_rm, _ = run_child("cli", "remove", second, "--index", str(index), "--corpus", str(corpus), "--quiet")

    report(b, b_wall, b_peak, index_s, ask_wall, ask_peak, real, serve, upd, cli_add, cli_rm, a.n)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
