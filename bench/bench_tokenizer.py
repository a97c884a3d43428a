"""Our tokenizer (jieba's cuts on jieba-rs) against jieba itself: agreement and speed.

    .venv/bin/python bench/bench_tokenizer.py

The texts are every passage of the CMRC2018 contexts and seed documents (as the chunker cuts
them) and the seed evaluation's questions. jieba gets the same dictionary, place names and
synonyms as `index.lexical`. Agreement is counted after the stopword and punctuation filter,
since that is what the index stores: a text agrees when its token list is identical. Why it
matters: BM25 postings hold these tokens, and the evaluation floors were set on jieba's.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

from common import REPO, base_texts

from policyqa.corpus.sections import ChunkParams, passages
from policyqa.corpus.types import Extracted
from policyqa.encode import tokenizer


def texts() -> list[str]:
    out = [p.indexed_text for name, t in base_texts() for p in passages("x", Extracted(t), name, ChunkParams())]
    for line in (REPO / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line)["question"])
    return out


def main() -> None:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    ref = jieba.Tokenizer()
    t = time.perf_counter()
    ref.initialize()
    for word, freq, tag in tokenizer.extra_words():
        ref.add_word(word, freq, tag)
    jieba_load = time.perf_counter() - t
    t = time.perf_counter()
    tokenizer.tokenize("预热")
    ours_load = time.perf_counter() - t
    corpus = texts()
    chars = sum(map(len, corpus))
    print(f"{len(corpus):,} texts, {chars:,} characters; dictionary load: jieba {jieba_load:.2f} s, ours {ours_load:.2f} s")
    print("| mode | jieba (s) | ours (s) | speed-up | texts identical | tokens differing |")
    print("|---|---|---|---|---|---|")
    for search in (True, False):
        t = time.perf_counter()
        want = [[w for w in (ref.cut_for_search(x.lower()) if search else ref.cut(x.lower()))
                 if w.strip() and w not in tokenizer.STOPWORDS and tokenizer.TOKEN_OK.search(w)] for x in corpus]
        jieba_s = time.perf_counter() - t
        t = time.perf_counter()
        got = [tokenizer.tokenize(x, search) for x in corpus]
        ours_s = time.perf_counter() - t
        same = sum(a == b for a, b in zip(want, got))
        diff = Counter()
        for a, b in zip(want, got):
            diff.update({f"jieba {w}": c for w, c in (Counter(a) - Counter(b)).items()})
            diff.update({f"ours {w}": c for w, c in (Counter(b) - Counter(a)).items()})
        total = sum(map(len, want))
        print(f"| {'search' if search else 'precise'} | {jieba_s:.2f} | {ours_s:.2f} | {jieba_s / ours_s:.1f}× | "
              f"{same:,} of {len(corpus):,} | {sum(diff.values())} of {total:,} |")
        if diff:
            print(f"  differing tokens: {', '.join(f'{k} ×{v}' for k, v in diff.most_common(8))}")


if __name__ == "__main__":
    main()
