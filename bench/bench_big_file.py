"""How long one very large text file takes to read (hash, load, metadata, passages, tokens).

Writes a generated UTF-8 text of --mb megabytes into a temporary folder and reads it the way
`policyqa build` does, printing seconds per step. The text is a news digest: each paragraph
(a real sentence of the seed documents) is datelined with another place of the gazetteer, so
the number of places named grows with the size, as in a real compilation. Embedding is not
timed (bench_pipeline.py measures it: about 12 passages/s on two CPU cores).

    .venv/bin/python bench/bench_big_file.py --mb 50                 # the size limit: skipped, with the reason
    .venv/bin/python bench/bench_big_file.py --mb 50 --no-limit      # read it all anyway
    .venv/bin/python bench/bench_big_file.py --mb 1 --metadata-only  # just the metadata step
"""

from __future__ import annotations

import argparse
import inspect
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def digest(megabytes: float) -> str:
    from policyqa.corpus.places import gazetteer

    places = [p.name for p in gazetteer() if p.level != "province"]
    lines = [ln for f in sorted((REPO / "documents").glob("*.txt")) for ln in f.read_text(encoding="utf-8").splitlines()
             if len(ln) > 40]
    rng = random.Random(0)
    parts, size, i = [], 0, 0
    while size < megabytes * 1e6:
        line = f"{places[i % len(places)]}讯：{rng.choice(lines)}\n"
        parts.append(line)
        size += len(line.encode("utf-8"))
        i += 1
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=2.0, help="size of the generated file (default 2)")
    ap.add_argument("--no-limit", action="store_true", help="lift the document size limit (MAX_DOCUMENT_CHARS)")
    ap.add_argument("--metadata-only", action="store_true", help="time only the metadata step on the whole text")
    args = ap.parse_args(argv)

    from policyqa.corpus.loaders import load
    from policyqa.corpus.metadata import extract
    from policyqa.corpus.reader import read_document, scan
    from policyqa.corpus.sections import ChunkParams
    from policyqa.encode.tokenizer import tokenize
    from policyqa.errors import LoadError

    tokenize("预热")  # jieba's dictionary load is not the file's cost
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digest.txt"
        path.write_text(digest(args.mb), encoding="utf-8")
        print(f"file: {path.stat().st_size / 1e6:.1f} MB")
        if args.metadata_only:
            ex = load(path)
            t = time.perf_counter()
            extract(ex, path.name)
            print(f"metadata: {time.perf_counter() - t:.1f} s for {len(ex.text):,} characters")
            return 0
        t = time.perf_counter()
        entries, _ = scan(Path(tmp))
        print(f"scan (hash): {time.perf_counter() - t:.2f} s")
        kwargs = {}
        if args.no_limit and "max_chars" in inspect.signature(read_document).parameters:
            kwargs["max_chars"] = sys.maxsize
        t = time.perf_counter()
        try:
            doc = read_document(entries[0], ChunkParams(), **kwargs)
        except LoadError as e:
            print(f"read: {time.perf_counter() - t:.2f} s, skipped: {e}")
            return 0
        print(f"read (load, metadata, passages): {time.perf_counter() - t:.1f} s, {len(doc.passages):,} passages")
        t = time.perf_counter()
        for p in doc.passages:
            tokenize(p.indexed_text)
        print(f"tokenize for BM25: {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
