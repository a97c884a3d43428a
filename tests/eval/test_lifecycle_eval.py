"""The lifecycle evaluation holds the issue's targets: statuses, 文号 lookup, --in-force, timeline order."""

from __future__ import annotations

from collections import Counter

import pytest

from policyqa.eval.lifecycle import DOCUMENTS, evaluate, gather_corpus, load_gold
from tests.support.seeds import SEEDS


def test_gold_names_only_its_documents_and_each_case():
    gold = load_gold()
    names = {f.name for f in DOCUMENTS.glob("*.txt")} | {f.name for f in SEEDS.glob("*.txt")}
    assert {g["source"] for g in gold["statuses"]} == {f.name for f in DOCUMENTS.glob("*.txt")}
    assert all(e in names for q in gold["questions"] for e in q["expect"])
    kinds = Counter(q["kind"] for q in gold["questions"])
    assert kinds["wenhao"] >= 10 and kinds["in_force"] >= 8 and kinds["timeline"] >= 3
    assert {g["status"] for g in gold["statuses"]} == {"现行有效", "尚未施行", "已失效", "已废止", None}


@pytest.mark.slow  # the real model: the seeds and the lifecycle documents indexed with m3e-small
def test_targets_on_the_lifecycle_set(tmp_path):
    from policyqa.config import Settings
    from policyqa.index.build import build
    from policyqa.qa.search import Searcher

    settings = Settings().with_(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    gather_corpus(settings.corpus_dir, SEEDS)
    build(settings, progress=False)
    s = evaluate(Searcher(settings), load_gold())["summary"]
    assert s["status_accuracy"] >= 0.95
    assert s["wenhao_R@1"] == 1.0
    assert s["in_force_violations"] == 0
    assert s["timeline_order"] == 1.0
