"""Is this text written by someone, or bytes that a converter or OCR turned into characters?

Random bytes named .doc come out of LibreOffice's plain-text import as thousands of characters
drawn from all over Unicode (Hangul, private use, rare ideographs); OCR of a noisy picture can
give scattered symbols. Three cheap measures tell them from a document, with wide margins:

- the share of characters that documents use: Chinese, Latin letters and digits, punctuation,
  the symbols of tables and lists (①, □, ℃, ㎡). The five seed documents are at 100%; random
  characters are under 50%.
- the share of Chinese characters that are common ones: in GB2312 (6,763 characters, which
  cover simplified Chinese almost entirely) or in Big5's first level (5,401 common traditional
  ones). The seeds are at 99.9% or more; ideographs drawn at random from the basic block, 42%.
- how many distinct words appear: a line of the same mark repeated is not a document.

A text too short to judge (fewer than MIN_CHARS letters and marks) passes.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

MIN_CHARS = 16
MIN_PLAUSIBLE_SHARE = 0.85
MIN_COMMON_HAN_SHARE = 0.75
MIN_HAN_TO_JUDGE = 50
MIN_DISTINCT_WORDS = 4
_SAMPLE = 200_000  # characters looked at, in windows spread over a long text

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_PLAUSIBLE = re.compile(
    "[" + _HAN
    + "\t\n\r\x20-\x7e"  # ASCII
    + "\u00a0-\u024f"  # Latin-1 symbols (° ± × · §) and accented letters (pinyin tones: ǎ ü)
    + "\u0370-\u03ff\u0400-\u04ff"  # Greek (α, Ω, μ), Cyrillic
    + "\u2000-\u27bf"  # punctuation, ℃ Ⅱ, arrows, ≤ ≥, ① ⑴, box drawing, □ ■ ○ ●, ★ ✓
    + "\u3000-\u33ff"  # CJK punctuation, kana, ㈠, ㎡
    + "\ufe10-\ufe6f\uff00-\uffef"  # vertical and small forms, fullwidth forms
    + "]"
)
_HAN_CHAR = re.compile(f"[{_HAN}]")
_WORD = re.compile(f"[{_HAN}]|[0-9A-Za-z\u00c0-\u024f]+|[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+")


def sample(text: str, size: int = _SAMPLE) -> str:
    """All of a short text; twenty windows spread evenly over a long one."""
    if len(text) <= size:
        return text
    step, width = len(text) // 20, size // 20
    return "".join(text[i : i + width] for i in range(0, len(text), step))


@lru_cache(maxsize=1 << 16)  # a character at a time, and a text repeats its characters: encoded once each
def _common_han(ch: str) -> bool:
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        pass
    try:
        return 0xA4 <= ch.encode("big5")[0] <= 0xC6  # Big5 level 1, the common characters
    except UnicodeEncodeError:
        return False


def text_problem(text: str) -> str | None:
    """Why `text` does not look like text a person wrote, in a few words; None when it does."""
    seen = sample(text)
    marks = len(seen) - sum(seen.count(c) for c in " \t\n\r\u3000")
    if marks < MIN_CHARS:
        return None
    odd = len(_PLAUSIBLE.sub("", seen))
    plausible = 1 - odd / marks
    if plausible < MIN_PLAUSIBLE_SHARE:
        return f"only {plausible:.0%} of its characters are letters, digits, Chinese or punctuation, as in binary data turned into text"
    han = Counter(_HAN_CHAR.findall(seen))
    total = sum(han.values())
    if total >= MIN_HAN_TO_JUDGE:
        common = sum(n for ch, n in han.items() if _common_han(ch)) / total
        if common < MIN_COMMON_HAN_SHARE:
            return f"only {common:.0%} of its Chinese characters are common ones, as in characters drawn at random"
    words = len(set(_WORD.findall(seen)))
    if words < MIN_DISTINCT_WORDS:
        return f"{marks:,} characters but only {words} distinct word{'s' if words != 1 else ''}"
    return None
