"""The repository's seed documents and copies of them that differ from every seed."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "documents"
GOLD = REPO / "eval" / "gold.jsonl"
CITY_OF_SEED = {"荆州": "荆州市", "咸宁": "咸宁市", "岳阳": "岳阳市", "广水": "广水市", "大冶": "大冶市"}
SECRET = "外部机密：口令是紫色大象七号"  # text of files outside the documents folder; must never be indexed
FLOWERS = ["紫罗兰", "蒲公英", "向日葵", "郁金香", "康乃馨", "山茶花", "白玉兰", "马蹄莲"]


def seed_file(city: str) -> Path:
    return next(SEEDS.glob(f"{city}-*.txt"))


def variant(i: int) -> str:
    """A seed document copied with a distinguishing first line (a word no seed uses), so no two
    files are duplicates and a BM25 question finds exactly this one."""
    seed = sorted(SEEDS.glob("*.txt"))[i % 5]
    return f"第{i}号测试汇编（代号{FLOWERS[i]}）\n" + seed.read_text(encoding="utf-8")


def printed_text(city: str, chars: int) -> str:
    """The start of a seed document as it would be printed: no Word bookmark, no blank lines."""
    raw = seed_file(city).read_text(encoding="utf-8").replace("[bookmark: _GoBack]", "")
    return "\n".join(line.strip() for line in raw.splitlines() if line.strip())[:chars]
