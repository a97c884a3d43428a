"""The tokenizer: jieba's search mode (jieba-rs) with a domain dictionary, place names and synonyms.

A build and a question cut text the same way: BM25 postings hold these cuts. Question words and
filler (哪些, 什么, 情况, 有关) are dropped so they cannot outweigh the terms that carry the question.
"""

from __future__ import annotations

import hashlib
import re
import threading
from functools import lru_cache
from pathlib import Path

_DATA = Path(__file__).parent / "data"
_USER_DICT = _DATA / "userdict.txt"
# Domain abbreviations and synonyms: qa/query.py expands questions with the groups, and every
# term is a word of the tokenizer from the start, so a passage is cut the same way in every
# process (when the words were added at the first question, a build inside a server cut its
# passages otherwise than a fresh `policyqa build`).
SYNONYMS_FILE = _DATA / "synonyms.txt"
STOPWORDS = frozenset(
    """哪些 哪个 哪几个 哪几 哪里 哪儿 哪家 哪天 哪年 什么 怎么 怎样 如何 为什么 是否 有没有 多少 几个 几家 几
    吗 呢 吧 啊 情况 有关 相关 方面 问题 内容 一些 哪 谁 是 的 了 和 与 及 或 在 对 把 被 于 以 之 其
    等 中 上 下 也 都 还 又 就 并 而 请问 介绍 一下 关于 具体 主要 有 进行 开展 做 做了 哪些地方 地方 城市
    哪些城市 分别 各 这 那 个 年 月 日 我市 全市 市""".split()
)
TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
# jieba cuts a run of letters and digits holding . - _ into its alphanumeric pieces (a-league →
# a - league, 2.4km → 2.4 km); jieba-rs keeps such a run whole. Cutting it first as jieba would
# makes the two agree (docs/scale.md: 1,791 of 1,792 texts identical).
_PUNCTUATED_RUN = re.compile(r"[a-z0-9+#&._%\-]*[._\-][a-z0-9+#&._%\-]*")
_ALNUM = re.compile(r"([a-z0-9]+(?:\.\d+)?%?)")  # jieba's finalseg.re_skip, lowercased text
_lock = threading.Lock()


@lru_cache(maxsize=1)
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    """One group of equivalent terms per line; the first term is the canonical form."""
    groups = []
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            groups.append(tuple(line.split()))
    return tuple(groups)


@lru_cache(maxsize=1)
def extra_words() -> tuple[tuple[str, int | None, str | None], ...]:
    """(word, frequency, tag) the tokenizer learns beyond jieba's dictionary (read once: the
    tokenizer and its id both need them)."""
    from policyqa.corpus.places import gazetteer

    out: list[tuple[str, int | None, str | None]] = []
    for line in _USER_DICT.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts:
            out.append((parts[0], int(parts[1]) if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None))
    out += [(place.name, 2000, "ns") for place in gazetteer()]
    out += [(w, 1000, None) for group in synonym_groups() for w in group if len(w) > 1]
    return tuple(out)


@lru_cache(maxsize=1)
def tokenizer_id() -> str:
    """Recorded in the manifest: an index cut by another tokenizer or dictionary is re-read by `build`."""
    from importlib.metadata import version

    words = "\n".join(f"{w}\t{f}\t{t}" for w, f, t in extra_words())
    return f"rjieba-{version('rjieba')}-{hashlib.sha256(words.encode('utf-8')).hexdigest()[:12]}"


@lru_cache(maxsize=1)
def _tokenizer():
    """jieba-rs (rjieba) with jieba's dictionary, ours, place names and synonyms: no global state.

    Ten times jieba's speed with the same cuts; tokenizing was most of a build's time."""
    import rjieba

    tok = rjieba.Jieba()
    for word, freq, tag in extra_words():
        tok.add_word(word, freq, tag)
    return tok


def _cut_for_search(tok, text: str) -> list[str]:
    """jieba's search mode (its cut_for_search, verbatim): each word, preceded by the dictionary
    words among its 2- and 3-character pieces. jieba-rs's own search mode adds other pieces."""
    out: list[str] = []
    has = tok.has_word
    for w in tok.cut(text):
        n = len(w)
        if n > 2:
            out += [w[i : i + 2] for i in range(n - 1) if has(w[i : i + 2])]
            if n > 3:
                out += [w[i : i + 3] for i in range(n - 2) if has(w[i : i + 3])]
        out.append(w)
    return out


def tokenize(text: str, search: bool = True) -> list[str]:
    """Lowercased tokens without stopwords and punctuation. Search mode (for BM25) adds the parts
    of long words (科技特派员工作站 → 特派员, 工作站, ...); precise mode keeps each word whole."""
    tok = _tokenizer()
    text = _PUNCTUATED_RUN.sub(lambda m: " ".join(x for x in _ALNUM.split(m.group()) if x), text.lower())
    with _lock:  # one tokenizer shared by the web server's threads
        words = _cut_for_search(tok, text) if search else tok.cut(text)
    dropped = {w for w in set(words) if not w.strip() or w in STOPWORDS or not TOKEN_OK.search(w)}  # each word once
    return [w for w in words if w not in dropped]
