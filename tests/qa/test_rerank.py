"""The optional cross-encoder reranker, on the real seed index with a real CrossEncoder.

No cross-encoder ships offline, so the tests make one: the installed m3e-small BERT weights with a
classification head initialised from a fixed seed, saved to a folder like any downloaded reranker.
Its scores mean nothing, which is the point: the results must follow them, not the fused order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from policyqa.config import Settings
from policyqa.encode.embedder import resolve_model
from policyqa.errors import ModelError
from policyqa.qa.search import Searcher

DEPTH = 6
QUESTION = "知识价值信用贷款"  # not a 哪些城市 question: the hits come back in ranked order, ungrouped
BIN = Path(sys.executable).parent / "policyqa"


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory) -> Path:
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder(resolve_model("m3e-small"), num_labels=1, device="cpu")
    path = tmp_path_factory.mktemp("reranker") / "seeded-ce"
    model.save(str(path))
    return path


@pytest.fixture(scope="module")
def off_settings(seed_settings) -> Settings:
    # no per-document cap inside the depth, so the hits are exactly the candidates that were reranked
    return replace(seed_settings, retrieval=replace(seed_settings.retrieval, per_doc=DEPTH, rerank_depth=DEPTH))


def _on(settings: Settings, path: Path, depth: int = DEPTH) -> Settings:
    return replace(settings, reranker=str(path), retrieval=replace(settings.retrieval, rerank_depth=depth))


def _scores(path: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(path), device="cpu").predict(pairs, batch_size=32, show_progress_bar=False)


def test_default_settings_have_no_reranker():
    assert Settings().reranker is None
    assert Settings.from_env({}).reranker is None
    assert Settings().retrieval.rerank_depth > 0
    assert Settings.from_env({"POLICYQA_RERANKER": "/models/bge-reranker-base"}).reranker == "/models/bge-reranker-base"


@pytest.mark.parametrize("command", [["ask", "科技"], ["eval"], ["serve"]])
def test_reranker_flag_reaches_the_settings(monkeypatch, command):
    from policyqa.cli import _settings, parser

    monkeypatch.delenv("POLICYQA_RERANKER", raising=False)
    assert _settings(parser().parse_args(command)).reranker is None
    assert _settings(parser().parse_args([*command, "--reranker", "/models/ce"])).reranker == "/models/ce"


def test_results_follow_the_cross_encoder_scores(off_settings, cross_encoder_dir):
    fused = Searcher(off_settings).ask(QUESTION, top_k=DEPTH)
    reranked = Searcher(_on(off_settings, cross_encoder_dir)).ask(QUESTION, top_k=DEPTH)
    assert len(fused.hits) == DEPTH

    scores = _scores(cross_encoder_dir, [(QUESTION, h.text) for h in fused.hits])
    expected = [fused.hits[i].pid for i in np.argsort(-scores, kind="stable")]
    assert [h.pid for h in reranked.hits] == expected
    assert expected != [h.pid for h in fused.hits]  # the reranker really changed the order here

    by_pid = {h.pid: h for h in fused.hits}
    for h in reranked.hits:  # the same passages, with their fused scores and answers, in the new order
        assert (h.score, h.text, h.answer) == (by_pid[h.pid].score, by_pid[h.pid].text, by_pid[h.pid].answer)
    assert [h.rank for h in reranked.hits] == list(range(1, DEPTH + 1))
    assert f"已用交叉编码器 {cross_encoder_dir.name} 重排前{DEPTH}条" in reranked.notes
    assert not any("交叉编码器" in n for n in fused.notes)


def test_only_the_first_rerank_depth_candidates_move(off_settings, cross_encoder_dir):
    fused = Searcher(off_settings).ask(QUESTION, top_k=DEPTH)
    reranked = Searcher(_on(off_settings, cross_encoder_dir, depth=3)).ask(QUESTION, top_k=DEPTH)
    head = [h.pid for h in reranked.hits[:3]]
    assert sorted(head) == sorted(h.pid for h in fused.hits[:3])
    assert [h.pid for h in reranked.hits[3:]] == [h.pid for h in fused.hits[3:]]
    assert f"已用交叉编码器 {cross_encoder_dir.name} 重排前3条" in reranked.notes


def test_off_means_unchanged_and_nothing_imported(seed_settings, searcher, monkeypatch):
    monkeypatch.setitem(sys.modules, "policyqa.qa.rerank", None)  # any import of the reranker now fails
    off = replace(seed_settings, retrieval=replace(seed_settings.retrieval, rerank_depth=DEPTH))
    assert off.reranker is None
    for q in (QUESTION, "哪些城市设立了科技特派员工作站"):
        assert Searcher(off).ask(q, top_k=5).to_json() == searcher.ask(q, top_k=5).to_json()


def test_missing_reranker_folder_is_one_clear_error(off_settings, tmp_path):
    missing = tmp_path / "bge-reranker-base"
    with pytest.raises(ModelError) as e:
        Searcher(_on(off_settings, missing)).ask(QUESTION)
    message = str(e.value)
    assert str(missing) in message and "local folder" in message and "\n" not in message


def test_an_embedding_model_is_refused_as_a_reranker(off_settings):
    m3e = resolve_model("m3e-small")  # loads fine as a CrossEncoder, with a random head: must not be used
    with pytest.raises(ModelError, match="not a cross-encoder"):
        Searcher(_on(off_settings, Path(m3e))).ask(QUESTION)


def test_cli_names_a_missing_reranker_in_one_line(seed_settings, tmp_path):
    missing = tmp_path / "no-such-reranker"
    r = subprocess.run([str(BIN), "ask", "科技", "--index", str(seed_settings.index_dir), "--reranker", str(missing)],
                       capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert r.returncode == 2
    assert str(missing) in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
