"""The places set holds the line: labels from the text alone, and questions that name a place retrieve
at least as well as those that do not (floors in eval/floors.json, "places")."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from policyqa.config import Settings
from policyqa.corpus.places import most_specific, places_in
from policyqa.eval import places
from policyqa.eval.gold import GOLD_FILE
from policyqa.index.build import build
from policyqa.qa.search import Searcher

FLOORS = json.loads((GOLD_FILE.parent / "floors.json").read_text(encoding="utf-8"))["places"]


def test_the_set_is_whole():
    labels, questions = places.load_labels(), places.load_questions()
    sources = {lab.source for lab in labels}
    assert sources == {p.name for p in places.DOCS_DIR.glob("*.txt")}
    assert len({q.id for q in questions}) == len(questions) and {q.source for q in questions} <= sources
    assert any(lab.city is None and lab.province is None for lab in labels)  # documents that name no place
    assert any(lab.city is None and lab.province for lab in labels)  # documents of a whole province


def test_place_labels_from_the_text_alone_stay_above_the_floor():
    rows = places.label_rows(places.load_labels())
    wrong = [f"{r['source']}: {r['got']} (expected {r['expected']})" for r in rows if not r["ok"]]
    assert places.summarize(rows, [])["labels"]["accuracy"] >= FLOORS["label_accuracy"], wrong


def test_every_question_s_place_is_understood_as_written():
    for q in places.load_questions():
        named = most_specific(places_in(q.question))  # 北京市朝阳区: 朝阳区
        assert (named.name if named else None) == q.place, q.question


@pytest.mark.slow  # the real model
def test_questions_that_name_a_place_retrieve_as_well_as_the_others(tmp_path):
    settings = replace(Settings(), corpus_dir=places.DOCS_DIR, index_dir=tmp_path / "index")
    build(settings, progress=False)
    summary = places.summarize([], places.question_rows(Searcher(settings), places.load_questions()))
    below = [f"{kind} {name}: {summary[kind][name]:.3f} < {floor}" for kind in ("names_place", "no_place")
             for name, floor in FLOORS[kind].items() if not summary[kind][name] >= floor]
    assert not below, below
    assert summary["names_place"]["R@5"] >= summary["no_place"]["R@5"]
    assert summary["names_place"]["MRR@10"] >= summary["no_place"]["MRR@10"]
    # a place named must not make the answer refused more often than none named does
    assert summary["names_place"]["false_refusal"] <= summary["no_place"]["false_refusal"]
