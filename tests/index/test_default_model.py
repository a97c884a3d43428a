"""e5-small is the default for new indexes; an existing index keeps its model until asked to switch;
m3e-small (non-commercial) is one flag and one setup option away, its licence said where it is chosen."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest

from policyqa.cli import main
from policyqa.config import DEFAULT_MODEL, Settings
from policyqa.encode import models
from policyqa.index.build import build
from policyqa.index.store import layout
from tests.support.seeds import seed_file


def test_the_default_model_allows_commercial_use():
    assert models.E5.name == DEFAULT_MODEL and Settings().model == models.E5.name
    assert models.KNOWN[DEFAULT_MODEL].commercial and not models.M3E.commercial
    assert "does not allow commercial use" in models.M3E.licence_note


def _one_doc(tmp_path) -> Settings:
    corpus = tmp_path / "documents"
    corpus.mkdir()
    shutil.copy(seed_file("广水"), corpus)
    return Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index", device="cpu")


def _cli_build(settings: Settings, capsys, *flags: str) -> str:
    assert main(["build", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "--quiet", *flags]) == 0
    return capsys.readouterr().out


def _model(settings: Settings) -> str:
    return layout.require_current(settings.index_dir).manifest()["model"]


def test_an_index_keeps_its_model_on_build_and_the_note_names_the_switch(tmp_path, tiny_model, capsys, monkeypatch):
    monkeypatch.delenv("POLICYQA_MODEL", raising=False)
    settings = _one_doc(tmp_path)
    build(settings.with_(model=tiny_model), progress=False)
    shutil.copy(seed_file("荆州"), settings.corpus_dir)  # a new document: embedded with the index's model
    out = _cli_build(settings, capsys)
    assert _model(settings) == tiny_model  # not the default, and nothing mixed
    assert f"built with model {tiny_model}" in out and f"--model {DEFAULT_MODEL}" in out and "keeps it" in out
    again = _cli_build(settings, capsys, "--model", tiny_model)  # named: no note
    assert "keeps it" not in again


@pytest.mark.slow  # the real models
@pytest.mark.skipif(importlib.util.find_spec("embedding") is None, reason=f"m3e-small not installed ({models.M3E_INSTALL})")
def test_an_m3e_index_stays_m3e_until_switched_and_its_licence_is_said(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("POLICYQA_MODEL", raising=False)
    settings = _one_doc(tmp_path)
    chosen = _cli_build(settings, capsys, "--model", "m3e-small")
    assert _model(settings) == "m3e-small" and models.M3E.licence_note in chosen  # said where it is chosen
    kept = _cli_build(settings, capsys)
    assert _model(settings) == "m3e-small" and "m3e-small" in kept and "does not allow commercial use" in kept
    assert f"policyqa build --index {settings.index_dir} --model e5-small" in kept
    switched = _cli_build(settings, capsys, "--model", "e5-small")
    assert _model(settings) == "e5-small" and "model changed (m3e-small → e5-small)" in switched


HIDE_M3E = "import sys; sys.modules['embedding'] = None; from policyqa.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow  # a fresh process
def test_m3e_without_its_package_is_one_line_naming_the_setup_option(tmp_path):
    settings = _one_doc(tmp_path)
    run = subprocess.run([sys.executable, "-c", HIDE_M3E, "build", "--corpus", str(settings.corpus_dir), "--index",
                          str(settings.index_dir), "--model", "m3e-small", "--quiet"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and models.M3E_INSTALL in lines[0] and "non-commercial" in lines[0]


def test_fusion_weights_and_threshold_are_the_models_own_unless_set():
    from policyqa.config import FUSION_WEIGHTS, NO_ANSWER_THRESHOLDS, OTHER_MODEL, Retrieval

    e5 = Retrieval().for_model("multilingual-e5-small")  # any of its names
    assert (e5.dense_weight, e5.bm25_weight) == FUSION_WEIGHTS["e5-small"] != FUSION_WEIGHTS["m3e-small"]
    other = Retrieval().for_model("/some/other/model")
    assert (other.dense_weight, other.bm25_weight) == FUSION_WEIGHTS[OTHER_MODEL]
    assert Retrieval().threshold_for("/some/other/model") == NO_ANSWER_THRESHOLDS[OTHER_MODEL]
    chosen = Retrieval(dense_weight=0.6, bm25_weight=0.4).for_model("e5-small")
    assert (chosen.dense_weight, chosen.bm25_weight) == (0.6, 0.4)


def test_eval_on_an_index_of_another_model_keeps_it(tmp_path, tiny_model, capsys, monkeypatch):
    """`policyqa eval --index` evaluates the index with the model it was built with, as `ask` does."""
    monkeypatch.delenv("POLICYQA_MODEL", raising=False)
    settings = _one_doc(tmp_path)
    build(settings.with_(model=tiny_model), progress=False)
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "neg-1", "kind": "negative", "question": "岳阳市城乡居民医保住院报销比例是多少", "evidence": []}\n',
                    encoding="utf-8")
    assert main(["eval", "--index", str(settings.index_dir), "--corpus", str(settings.corpus_dir), "--gold", str(gold),
                 "--modes", "bm25", "--report", str(tmp_path / "report")]) == 0
    assert _model(settings) == tiny_model and "keeps it" in capsys.readouterr().err
