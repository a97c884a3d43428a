"""Write corpus/data/common_shorts.txt: the places' short names that jieba's dictionary tags as everyday
words (资源, 合作, 新兴), which count as places only with 市/县 written. Run it after changing
places.tsv or jieba; tests/corpus/test_places.py fails until the file is current.

    .venv/bin/python scripts/places_common_words.py
"""

from __future__ import annotations

from policyqa.corpus.places import COMMON_SHORTS, common_words_from_jieba


def main() -> int:
    words = common_words_from_jieba()
    COMMON_SHORTS.write_text("# made by scripts/places_common_words.py from jieba's dict.txt and places.tsv\n"
                             + "\n".join(words) + "\n", encoding="utf-8")
    print(f"{COMMON_SHORTS}: {len(words)} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
