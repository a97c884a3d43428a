"""The `policyqa` command: build, ask, add, remove, status, check, eval, serve.

Every expected failure ends with one line on stderr naming the problem and the command that
fixes it, and a non-zero exit code; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path

from policyqa.config import MAX_QUESTION_CHARS, Settings
from policyqa.encode.encoders import CHOICES
from policyqa.encode.models import E5, M3E, M3E_INSTALL
from policyqa.errors import UsageError as CliError

SAMPLE_QUESTION = "哪些城市设立了科技特派员工作站"



def _settings(args) -> Settings:
    """The environment's settings, overridden by the flags given (the one place the environment is read)."""
    from policyqa.index.backends import check_installed

    settings = _read_settings(args)
    check_installed(settings)  # fail before any work when the backend is unknown or its extra missing
    return settings


def _read_settings(args) -> Settings:
    return Settings.from_env(os.environ).with_(
        corpus_dir=Path(args.corpus) if getattr(args, "corpus", None) else None,
        index_dir=Path(args.index) if getattr(args, "index", None) else None,
        model=getattr(args, "model", None),
        encoder=getattr(args, "encoder", None),
        reranker=getattr(args, "reranker", None),
        backend=getattr(args, "backend", None),
        milvus_uri=getattr(args, "milvus_uri", None),
        ray_address=getattr(args, "ray", None),
        vectors=getattr(args, "vectors", None),
        ocr=False if getattr(args, "no_ocr", False) else None,
    )


def _model_named(args) -> bool:
    """Whether the user chose a model (--model or $POLICYQA_MODEL), rather than getting the default."""
    return bool(getattr(args, "model", None) or os.environ.get("POLICYQA_MODEL"))


def _building(args) -> tuple[Settings, str | None]:
    """Settings for a command that embeds (build, add, remove): unless --model or $POLICYQA_MODEL names one,
    an existing index keeps the model it was built with (index/build.py kept_model), with a note saying so."""
    from policyqa.index.build import kept_model

    settings = _settings(args)
    if _model_named(args):
        return settings, None
    kept = kept_model(settings)
    return kept if kept else (settings, None)


def _with_note(report, note: str | None):
    if note:
        report.notes.insert(0, note)
    return report


def cmd_build(args) -> int:
    from policyqa.index.build import build

    settings, note = _building(args)
    print(_with_note(build(settings, progress=not args.quiet), note).summary())
    return 0


def _read_questions(args) -> list[str]:
    if args.questions:
        path = Path(args.questions)
        if not path.exists():
            raise CliError(f"questions file {path} not found")
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = path.read_bytes()[: e.start].count(b"\n") + 1
            raise CliError(f"questions file {path} is not UTF-8 (line {line}); save it as UTF-8 and run again") from None
        questions = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not questions:
            raise CliError(f"questions file {path} has no questions (one per line)")
        return questions
    if args.question is None:
        raise CliError(f'give a question, e.g. policyqa ask "{SAMPLE_QUESTION}", or --questions FILE')
    return [args.question]


def print_answer(answer, out=None) -> None:
    from policyqa.corpus.paths import shown

    w = (out or sys.stdout).write  # sys.stdout as it is now (a default argument would keep the one at import)
    w(f"\n问：{answer.question}\n")
    for note in answer.notes:
        w(f"  ※ {note}\n")
    if not answer.hits:
        w("  未找到相关内容：没有符合条件的段落。\n")
    elif not answer.found:
        w("  未找到相关内容。以下是最接近的段落，仅供参考：\n")
    if answer.groups:
        w(f"  涉及 {len(answer.groups)} 个地方：\n")
        for g in answer.groups:
            best = answer.hits[g.ranks[0] - 1]
            w(f"  ● {g.city}（{len(g.ranks)} 段）：{best.answer}\n")
    if answer.timeline:
        w("  按年份（从早到晚）：\n")
        for y in answer.timeline:
            best = answer.hits[y.ranks[0] - 1]
            w(f"  ● {y.year or '年份不详'}（{len(y.ranks)} 段）：《{best.title}》{best.answer}\n")
    for h in answer.hits:
        w(f"\n[{h.rank}] score {h.score:.4f}\n")
        w(f"    {shown(h.citation)}\n")
        if h.standing.note:
            w(f"    时效：{h.standing.note}\n")
            for sentence in h.standing.evidence + h.standing.problems:
                w(f"      依据：{sentence}\n")
        if h.answer_span:
            w(f"    答案：{h.answer_span}\n")
        text = h.text
        if h.answer and h.answer_start is not None:
            a, b = h.answer_start - h.start, h.answer_end - h.start
            text = f"{text[:a]}【{text[a:b]}】{text[b:]}"
        w("    " + text.replace("\n", "\n    ") + "\n")


def cmd_ask(args) -> int:
    from policyqa.qa.search import Filters, Searcher

    questions = _read_questions(args)
    for i, q in enumerate(questions):
        if len(q) > MAX_QUESTION_CHARS:
            print(f"warning: question {i + 1} is longer than {MAX_QUESTION_CHARS} characters; truncated", file=sys.stderr)
    from policyqa.qa.search import MODES

    if args.mode not in MODES:
        raise CliError(f"unknown mode {args.mode!r}; use one of: {', '.join(MODES)}")
    searcher = Searcher(_settings(args), model=args.model)
    filters = Filters(city=args.city, year=args.year, doc_type=args.doc_type, in_force=args.in_force, as_of=args.as_of,
                      timeline=args.timeline)
    for q in questions:
        answer = searcher.ask(q, top_k=args.top_k, mode=args.mode, filters=filters)
        if args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False))
        else:
            print_answer(answer)
    return 0


def cmd_status(args) -> int:
    from policyqa.index.backends import describe
    from policyqa.index.status import status

    settings = _settings(args)
    for line in describe(settings):
        print(line)
    print(status(settings))
    return 0


def cmd_check(args) -> int:
    from policyqa.index.check import check

    ok, bad = check(_settings(args).index_dir)
    for line in ok:
        print(f"ok: {line}")
    for line in bad:
        print(f"damaged: {line}", file=sys.stderr)
    if bad:
        return 1
    print("index is intact")
    return 0


def cmd_add(args) -> int:
    from policyqa.index.update import add_files

    settings, note = _building(args)
    print(_with_note(add_files(settings, [Path(p) for p in args.paths], progress=not args.quiet), note).summary())
    return 0


def cmd_remove(args) -> int:
    from policyqa.index.update import remove_sources

    settings, note = _building(args)
    print(_with_note(remove_sources(settings, args.sources, progress=not args.quiet), note).summary())
    return 0


def cmd_eval(args) -> int:
    from policyqa.eval.harness import main as eval_main

    args.keep_index_model = not _model_named(args)  # the eval index keeps its model, as build does
    return eval_main(args, _settings(args))


def _web_names(args) -> tuple[list[str], list[str]]:
    """(--allowed-host names with $POLICYQA_ALLOWED_HOSTS', --cors-origin origins), checked before the model loads."""
    from policyqa.ui.guard import check_host, check_origin

    env = [h for h in os.environ.get("POLICYQA_ALLOWED_HOSTS", "").split(",") if h.strip()]
    try:
        return [check_host(h) for h in [*env, *(args.allowed_host or [])]], [check_origin(o) for o in args.cors_origin or []]
    except ValueError as e:
        raise CliError(str(e)) from None


def cmd_serve(args) -> int:
    from policyqa.errors import PortInUse
    from policyqa.ui.app import serve

    hosts, origins = _web_names(args)
    try:
        serve(_settings(args), host=args.host, port=args.port, build_if_missing=args.build_if_missing,
              allow_writes=args.allow_writes, allowed_hosts=hosts, cors_origins=origins)
    except PortInUse as e:
        raise CliError(str(e)) from None
    return 0


def _common(sp, corpus: bool = True, model: bool = True, backend: bool = True) -> None:
    """The flags that say which index, documents, model and backend a command works on."""
    sp.add_argument("--index", help="index folder (default: var/index or $POLICYQA_INDEX)")
    if corpus:
        sp.add_argument("--corpus", help="documents folder (default: documents or $POLICYQA_CORPUS)")
    if model:
        sp.add_argument("--model", help=f"{E5.name} (default for a new index: multilingual-e5-small, "
                                         f"{E5.licence}), {M3E.name} ({M3E.licence} licence; install: {M3E_INSTALL}), "
                                         "or a sentence-transformers model name or path; an existing index keeps its model "
                                         "unless this is given")
        sp.add_argument("--encoder", choices=list(CHOICES),
                        help="how the model runs (default auto: openvino on a CPU where it is installed, else bf16 on "
                             "a CPU with AVX-512 BF16/AMX, fp16 on a GPU, else fp32; onnx variants need onnxruntime); "
                             "see docs/performance.md")
    if backend:
        sp.add_argument("--backend", choices=("faiss", "milvus"),
                        help="where passages are stored and searched: faiss, the embedded index (default), or milvus")
        sp.add_argument("--milvus-uri", metavar="URI", help="a milvus-lite file (default var/milvus.db) or "
                        "http://host:19530; credentials only from $POLICYQA_MILVUS_TOKEN or _USER/_PASSWORD")


def _reranker(sp) -> None:
    sp.add_argument("--reranker", metavar="NAME_OR_PATH",
                    help="cross-encoder (a local folder: none ships offline) that re-orders the top candidates "
                         "(default: $POLICYQA_RERANKER, else off)")


def _vectors(sp) -> None:
    sp.add_argument("--vectors", choices=["auto", "flat", "hnsw", "ivf-sq8"],
                    help="vector search: flat (exact), hnsw or ivf-sq8 (approximate, FAISS), or auto (default: "
                         "flat up to 20,000 passages, then hnsw); see docs/scale.md")


def _writers(sub) -> None:
    """build, add and remove: the commands that change the index."""
    b = sub.add_parser("build", help="build or update the index from the documents folder")
    _common(b)
    _vectors(b)
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="embed new passages on a Ray cluster (ray://host:10001 or auto); without ADDRESS a local Ray")
    b.add_argument("--no-ocr", action="store_true", help="do not OCR scanned PDF pages or pictures in .docx (they are skipped)")
    b.set_defaults(func=cmd_build)

    ad = sub.add_parser("add", help="copy files or folders into the documents folder and index them")
    _common(ad)
    _vectors(ad)
    ad.add_argument("paths", nargs="+")
    ad.add_argument("--quiet", action="store_true")
    ad.add_argument("--no-ocr", action="store_true", help="do not OCR scanned PDF pages or pictures in .docx (they are skipped)")
    ad.set_defaults(func=cmd_add)

    rm = sub.add_parser("remove", help="take documents out of the folder and the index")
    _common(rm)
    _vectors(rm)
    rm.add_argument("sources", nargs="+", help="file names relative to the documents folder")
    rm.add_argument("--quiet", action="store_true")
    rm.add_argument("--no-ocr", action="store_true", help="the rebuild after removing does not OCR (as build --no-ocr)")
    rm.set_defaults(func=cmd_remove)


def _readers(sub) -> None:
    """ask, status, check and eval: the commands that only read."""
    a = sub.add_parser("ask", help="ask a question")
    _common(a, corpus=False)
    a.add_argument("question", nargs="?")
    a.add_argument("--questions", help="file with one question per line (model loaded once)")
    a.add_argument("--top-k", type=int, default=5)
    a.add_argument("--mode", default="hybrid", help="hybrid (default), dense or bm25")
    a.add_argument("--city")
    a.add_argument("--year", type=int)
    a.add_argument("--doc-type", help="e.g. 工作要点, 工作方案, 提案答复, 新闻报道, 进展汇报")
    a.add_argument("--in-force", action="store_true",
                   help="only documents 现行有效 on --as-of (or saying nothing about their validity); see docs/lifecycle.md")
    a.add_argument("--as-of", metavar="YYYY-MM-DD", help="the date statuses are computed for (default: today)")
    a.add_argument("--timeline", action="store_true", help="group the results by year, oldest first")
    a.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    _reranker(a)
    a.set_defaults(func=cmd_ask)

    st = sub.add_parser("status", help="what the index holds and what is not indexed yet")
    _common(st, model=False)
    st.set_defaults(func=cmd_status)

    ck = sub.add_parser("check", help="verify every file of the index against its checksum")
    _common(ck, corpus=False, model=False, backend=False)
    ck.set_defaults(func=cmd_check)

    ev = sub.add_parser("eval", help="run the retrieval evaluation set")
    _common(ev)
    ev.add_argument("--gold", help="gold questions (default: eval/gold.jsonl)")
    ev.add_argument("--modes", default="bm25,dense,hybrid")
    ev.add_argument("--k", type=int, default=10)
    ev.add_argument("--squad", help="evaluate a SQuAD-format dataset (file or folder of .json) instead")
    ev.add_argument("--limit", type=int, help="only the first N questions (quick runs)")
    ev.add_argument("--report", default="var/eval-report", help="report folder (Markdown, JSON, PNG)")
    _reranker(ev)
    ev.set_defaults(func=cmd_eval)


def _server(sub) -> None:
    sv = sub.add_parser("serve", help="serve the web UI and the JSON API (/api, docs at /docs)")
    _common(sv)
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=7860)
    sv.add_argument("--build-if-missing", action="store_true", help="build the index first when there is none")
    sv.add_argument("--allow-writes", action="store_true",
                    help="let the HTTP API upload and delete documents (default: off, the API is read-only)")
    sv.add_argument("--allowed-host", action="append", metavar="NAME",
                    help="also answer requests for this Host name, e.g. a reverse proxy's (repeatable; *.example.org for "
                         "its subdomains; also $POLICYQA_ALLOWED_HOSTS, comma-separated). Default: this machine's names only")
    sv.add_argument("--cors-origin", action="append", metavar="URL",
                    help="let pages of this origin (e.g. https://portal.example.org) call the API from a browser, and write "
                         "with --allow-writes (repeatable; default: none)")
    _reranker(sv)
    sv.set_defaults(func=cmd_serve)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policyqa", description="Search and question answering over Chinese policy documents")
    sub = p.add_subparsers(dest="command", required=True)
    _writers(sub)
    _readers(sub)
    _server(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from policyqa.corpus.paths import shown
    from policyqa.errors import PolicyQAError

    # Hugging Face is unreachable here: never let a library wait on it.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Ray waits 30 s for a local head's GCS to bind its port; on two cores busy with other work it
    # took longer (a test failed so while two suites ran at once). Ray reads this itself.
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "180")
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # Milvus's gRPC client: errors arrive as exceptions, not log lines
    args = parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a byte that is not UTF-8 in a file name prints escaped, not as a traceback
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors="backslashreplace")
    try:
        return args.func(args)
    except (PolicyQAError, FileNotFoundError) as e:
        print(f"policyqa {args.command}: error: {shown(str(e))}", file=sys.stderr)  # one line, whatever the names hold
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
