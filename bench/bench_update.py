"""What adding or removing one document costs, against a full build, and a full build's peak memory.

    .venv/bin/python bench/bench_update.py --data ../shared/datasets/cmrc2018 [--limit N] [--work DIR]
    .venv/bin/python bench/bench_update.py --corpus DIR [--limit N] [--work DIR]

Why: `policyqa add` and `policyqa remove` rebuild the index incrementally, and that is only worth
having if it stays cheap as the corpus grows. The target is each at most 5% of a full build on a
corpus of about 1,000 documents (the CMRC2018 contexts, one file each), and the full build must
fit in memory, so its peak RSS is printed too.

One document is held back from the corpus and added after the full build, so the add reads and
embeds a document the embedding cache has never seen. Another document is then removed. The full
build runs in a child process (a fresh index, no cache) so that its peak RSS is its own; in that
child and here the model is loaded before the clock starts, so every figure compares index work
with index work. The model load is printed apart and counted nowhere.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import REPO, timed

from policyqa.config import Settings
from policyqa.corpus.reader import scan
from policyqa.encode import embedder
from policyqa.index.build import BuildReport, build
from policyqa.index.update import add_files, remove_sources

TARGET = 0.05  # add or remove one document: at most this fraction of a full build


@dataclass
class FullBuild:
    seconds: float  # build() alone, model already loaded
    load_seconds: float  # model load and weight fingerprint in the child, not counted
    wall_seconds: float  # the whole child process: interpreter, imports, model, build
    documents: int
    passages: int
    embedded: int
    peak_rss_mib: float
    py_peak_mib: float | None


@dataclass
class Step:
    name: str
    seconds: float
    report: BuildReport


def warm_model(settings: Settings) -> float:
    """Load the model and hash its weights (both cached per process), so no timed step pays for them."""
    seconds, _ = timed(lambda: embedder.fingerprint(settings.model, settings.device))
    return seconds


def source_files(args: argparse.Namespace, work: Path) -> tuple[Path, list[str]]:
    """The folder the documents come from and their names in it, in order, at most --limit of them."""
    if args.data:
        from policyqa.eval.harness import squad_gold  # writes each context once as one .txt file

        src = work / "contexts"
        squad_gold(Path(args.data), src)
    else:
        src = Path(args.corpus)
    entries, _ = scan(src)
    names = [e.source for e in entries]
    if args.limit:
        names = names[: args.limit]
    if len(names) < 3:
        raise SystemExit(f"{src}: {len(names)} documents; the benchmark needs at least 3")
    return src, names


def lay_out(src: Path, names: list[str], work: Path) -> tuple[Path, Path]:
    """Copy all but the last document into work/corpus; the last waits in work/new to be added."""
    corpus, new = work / "corpus", work / "new"
    for i, name in enumerate(names):
        dest = (new / Path(name).name) if i == len(names) - 1 else corpus / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / name, dest)
    return corpus, new / Path(names[-1]).name


def child_build(corpus: str, index: str, trace: bool) -> None:
    """In the child: load the model, then time a build from scratch; one JSON line on stdout."""
    settings = Settings().with_(corpus_dir=Path(corpus), index_dir=Path(index))
    load = warm_model(settings)
    if trace:
        import tracemalloc

        tracemalloc.start()
    seconds, report = timed(lambda: build(settings, progress=True))
    py_peak = None
    if trace:
        py_peak = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps({"seconds": seconds, "load_seconds": load, "documents": report.documents,
                      "passages": report.passages, "embedded": report.embedded, "py_peak_mib": py_peak}))


def full_build(settings: Settings, trace: bool) -> FullBuild:
    """A build from scratch in a child process; its peak RSS read from the kernel once it has exited."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-build", str(settings.corpus_dir), str(settings.index_dir)]
    wall, proc = timed(lambda: subprocess.run(cmd + (["--trace-python"] if trace else []), env=env, stdout=subprocess.PIPE,
                                              text=True, check=True))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # the largest resident set of any child waited for; this is the only child, and ru_maxrss is KiB on Linux
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return FullBuild(out["seconds"], out["load_seconds"], wall, out["documents"], out["passages"], out["embedded"], rss,
                     out["py_peak_mib"])


def check(step: Step, field: str, expected: list[str]) -> None:
    got = getattr(step.report, field)
    if got != expected:
        raise SystemExit(f"{step.name}: expected {field} {expected}, the build reported {got}\n{step.report.summary()}")


def updates(settings: Settings, new_file: Path) -> list[Step]:
    """No-op build, add the held-back document, remove another: each timed alone, model already loaded."""
    noop = Step("no-op build", *timed(lambda: build(settings, progress=True)))
    if noop.report.changed:
        raise SystemExit(f"the build after a full build changed something:\n{noop.report.summary()}")
    add = Step("add one document", *timed(lambda: add_files(settings, [new_file], progress=True)))
    check(add, "added", [new_file.name])
    sources, _ = scan(settings.corpus_dir)
    victim = sources[len(sources) // 2].source
    remove = Step("remove one document", *timed(lambda: remove_sources(settings, [victim], progress=True)))
    check(remove, "removed", [victim])
    return [noop, add, remove]


def table(full: FullBuild, steps: list[Step], load: float) -> str:
    rows = ["| step | seconds | % of full build | passages embedded | target | result |", "|---|---:|---:|---:|---|---|",
            f"| full build (fresh index, empty cache) | {full.seconds:.2f} | 100.0% | {full.embedded} | | |"]
    for s in steps:
        pct = s.seconds / full.seconds
        target = f"<= {TARGET:.0%}" if s.name != "no-op build" else ""
        verdict = ("PASS" if pct <= TARGET else "MISS") if target else ""
        rows.append(f"| {s.name} | {s.seconds:.2f} | {pct:.1%} | {s.report.embedded} | {target} | {verdict} |")
    py = f"; Python-side peak (tracemalloc) {full.py_peak_mib:.0f} MiB" if full.py_peak_mib is not None else ""
    return "\n".join([
        *rows, "",
        f"peak RSS of the full build: {full.peak_rss_mib:.0f} MiB (child process, model included){py}",
        "counted in every row: scan and hash of the folder, reading and chunking, tokenizing, embedding, postings, SQLite,",
        "  fsync of new segments and the commit swap; add and remove also copy or move the file.",
        "  One-time setup of this process other than the model (jieba dictionary, place-name patterns) falls in the",
        "  first step that needs it: the add.",
        f"not counted: model load and weight fingerprint ({full.load_seconds:.1f}s in the child, {load:.1f}s here);",
        f"  with process start and imports the child ran {full.wall_seconds:.1f}s in all.",
    ])


def run(args: argparse.Namespace, work: Path) -> None:
    src, names = source_files(args, work)
    corpus, new_file = lay_out(src, names, work)
    settings = Settings().with_(corpus_dir=corpus, index_dir=work / "index")
    print(f"{len(names)} documents from {src}: {len(names) - 1} built from scratch, 1 held back to add ({new_file.name})",
          file=sys.stderr)
    full = full_build(settings, args.trace_python)
    load = warm_model(settings)
    steps = updates(settings, new_file)
    print(f"\ncorpus: {full.documents} documents, {full.passages} passages in the full build; model {settings.model}, "
          f"{os.cpu_count()} CPUs, work folder {work}\n")
    print(table(full, steps, load))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = ap.add_mutually_exclusive_group()
    source.add_argument("--data", help="SQuAD-format file or folder; its contexts become the documents")
    source.add_argument("--corpus", help="a folder of documents (copied, never changed)")
    ap.add_argument("--limit", type=int, help="use only the first N documents (N-1 built, 1 added): a quick try")
    ap.add_argument("--work", help="work folder, kept afterwards (default: a temporary folder, removed)")
    ap.add_argument("--trace-python", action="store_true", help="also the Python-side peak of the full build (tracemalloc; slows it)")
    ap.add_argument("--child-build", nargs=2, metavar=("CORPUS", "INDEX"), help=argparse.SUPPRESS)
    return ap


def main() -> None:
    args = parser().parse_args()
    if args.child_build:
        child_build(*args.child_build, trace=args.trace_python)
        return
    if not (args.data or args.corpus):
        raise SystemExit("give --data SQUAD_FILE_OR_FOLDER or --corpus DIR")
    if args.work:
        work = Path(args.work)
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"work folder {work} is not empty; give a new one")
        work.mkdir(parents=True, exist_ok=True)
        run(args, work)
        return
    with tempfile.TemporaryDirectory(prefix="policyqa-bench-update-") as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
