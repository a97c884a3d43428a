"""What a document's status costs per result at scale: 100,000 results over a synthetic library.

    .venv/bin/python bench/bench_lifecycle.py [--passages 100000] [--docs 10000]

Every result of `ask` gets its document's status on the date asked (qa/lifecycle.py), computed when
asked from stored dates, and `--in-force` asks it of every candidate. The target (issue 29) is at most
1 ms per result at 100k passages. This builds a library of `--docs` documents whose metadata carries
lifecycles like real ones (a third in force, some expired, versions that repeal older ones by 文号,
repeals naming documents not indexed, and reports that say nothing), spreads `--passages` results over
them, and times: building the catalogue (once per index generation), the full status of every result
(what a hit carries), and the in-force test (what the filter asks). bench_scale.py times search itself;
this isolates the lifecycle work so the figure does not drown in encoding and FAISS noise.
"""

from __future__ import annotations

import argparse
import random
import time

from policyqa.corpus.types import Dated, DocMeta, Lifecycle, Reference
from policyqa.qa.lifecycle import Catalog


def library(n_docs: int, seed: int = 0) -> list[tuple[str, DocMeta]]:
    rnd = random.Random(seed)
    docs = []
    for i in range(n_docs):
        year = 2010 + i % 15
        number = f"荆政发〔{year}〕{i}号"
        kind = i % 5
        lc = None
        if kind in (0, 1, 2):
            start = f"{year}-{rnd.randint(1, 12):02d}-01"
            expires = Dated(f"{year + rnd.randint(1, 6)}-12-31", "有效期至…") if kind == 1 else None
            refs = []
            if kind == 2 and i >= 5:  # a new version repeals an older one, by 文号
                old_year = 2010 + (i - 5) % 15
                refs.append(Reference("废止", f"办法{i - 5}", f"荆政发〔{old_year}〕{i - 5}号", "…同时废止。"))
            if i % 50 == 0:  # and now and then one the index does not hold
                refs.append(Reference("废止", "未收录的办法", None, "原《未收录的办法》不再执行。"))
            lc = Lifecycle(effective=Dated(start, f"本办法自{start}起施行。"), expires=expires, references=refs)
        docs.append((f"doc{i}", DocMeta(title=f"办法{i}", year=year, doc_number=number, date=f"{year}-01-01", lifecycle=lc)))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--as-of", default="2024-06-30")
    args = ap.parse_args()
    docs = library(args.docs)
    t0 = time.perf_counter()
    catalog = Catalog(docs)
    built = time.perf_counter() - t0
    rnd = random.Random(1)
    results = [docs[rnd.randrange(len(docs))][0] for _ in range(args.passages)]  # each passage's document

    t0 = time.perf_counter()
    statuses = [catalog.standing(d, args.as_of).status for d in results]
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    kept = sum(catalog.in_force(d, args.as_of) for d in results)
    test = time.perf_counter() - t0

    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    print(f"library: {args.docs:,} documents, {args.passages:,} results, as of {args.as_of}")
    print(f"statuses: {counts}; --in-force keeps {kept:,}")
    print(f"catalogue built once per index generation: {built * 1000:.1f} ms")
    print(f"status with dates, links and sentences: {full / args.passages * 1000:.4f} ms per result "
          f"({full * 1000:.0f} ms for all {args.passages:,})")
    print(f"in-force test: {test / args.passages * 1000:.4f} ms per result ({test * 1000:.0f} ms for all)")
    print(f"target <= 1 ms per result: {'met' if max(full, test) / args.passages <= 0.001 else 'MISSED'}")


if __name__ == "__main__":
    main()
