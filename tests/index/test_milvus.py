"""The Milvus backend (on milvus-lite) against the embedded one.

Runs only where the `cluster` extra is installed (`pip install 'policyqa[cluster]'`; `scripts/setup.sh
--dev` installs it); the missing-extra message (Milvus's and Ray's) is tested everywhere.
Embedding on Ray: test_ray.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from policyqa.config import Settings
from policyqa.index.backends.milvus.sync import REWEIGHT_DRIFT, display_uri
from policyqa.index.build import build
from policyqa.qa.search import Filters, Searcher
from tests.support.seeds import GOLD, REPO, seed_file

pytestmark = pytest.mark.slow  # the real model's index and milvus-lite start-ups: minutes, not the fast tier

NEEDS_MILVUS = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("pymilvus", "milvus_lite")),
    reason="pymilvus/milvus-lite not installed (pip install 'policyqa[cluster]')")

NEW_DOC = "测试县2023年科技工作要点\n一、建设量子通信实验室\n测试县将建设量子通信联合实验室，引进量子密钥分发设备12套。\n"
CHANGED_DOC = "测试县2023年科技工作要点\n一、建设磁悬浮风洞\n测试县将建设磁悬浮风洞试验平台，投入资金3000万元。\n"


def _gold(n_per_kind: int = 4) -> list[str]:
    rows = [json.loads(x) for x in GOLD.read_text(encoding="utf-8").splitlines() if x.strip()]
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["kind"], [])
        if len(out[r["kind"]]) < n_per_kind:
            out[r["kind"]].append(r["question"])
    return [q for qs in out.values() for q in qs]


def _view(answer) -> dict:
    """What a user sees of an answer, without the backend's own passage numbers or its scores (which
    `_scores` compares with a tolerance: rounding float32 sums flips a last digit now and then)."""
    return {
        "hits": [(h.source, h.start, h.end, h.answer, h.answer_span) for h in answer.hits],
        "groups": [(g.city, g.ranks) for g in answer.groups or []],
        "found": answer.found, "notes": answer.notes,
    }


def _scores(answer) -> np.ndarray:
    return np.array([(h.score, h.dense, h.bm25) for h in answer.hits]).reshape(-1, 3)


def _same(a, b) -> bool:
    """The same answer: same view, scores within float32 summation error."""
    return _view(a) == _view(b) and np.allclose(_scores(a), _scores(b), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def both(seed_settings, tmp_path_factory):
    """The seed index served by the embedded backend and, synced from it, by a milvus-lite file."""
    from policyqa.index.backends.milvus.sync import sync

    m = replace(seed_settings, backend="milvus", milvus_uri=str(tmp_path_factory.mktemp("milvus") / "seed.db"))
    report = sync(m, progress=False)
    assert report.rows_added > 0
    return Searcher(seed_settings), Searcher(m)


@NEEDS_MILVUS
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_gold_questions_answer_the_same_on_milvus(both, mode):
    """Same passages, same order, same answers and groups; scores equal within float32 summation error."""
    faiss, milvus = both
    questions = _gold()
    differ = [q for q in questions if not _same(faiss.ask(q, top_k=5, mode=mode), milvus.ask(q, top_k=5, mode=mode))]
    assert not differ, differ


@NEEDS_MILVUS
def test_filters_run_in_milvus_and_agree(both):
    faiss, milvus = both
    cases = [Filters(city="岳阳"), Filters(year=2021), Filters(doc_type="工作方案"), Filters(city="黄石"),
             Filters(city="荆州", year=2022)]
    for f in cases:
        a, b = faiss.ask("高新技术企业", filters=f, top_k=5), milvus.ask("高新技术企业", filters=f, top_k=5)
        assert b.hits, f
        assert _same(a, b), f
    assert {h.city for h in milvus.ask("高新技术企业", filters=Filters(city="黄石"), top_k=5).hits} == {"大冶市"}


@NEEDS_MILVUS
def test_which_cities_groups_by_place_on_milvus(both):
    _, milvus = both
    a = milvus.ask("哪些城市设立了科技特派员工作站")
    assert [g.city for g in a.groups] == ["荆州市"]
    a = milvus.ask("哪些城市选派了科技特派员")
    assert {g.city for g in a.groups} == {"荆州市", "咸宁市", "岳阳市", "广水市", "大冶市"}
    for h in a.hits:  # texts and offsets come back from the collection exactly
        assert milvus.index.docs[h.doc_id].text[h.start : h.end] == h.text


@NEEDS_MILVUS
def test_refused_questions_are_refused_on_milvus(both):
    faiss, milvus = both
    for q in ("深圳市的科技特派员有多少人", "荆州2019年新增了多少家高新技术企业"):
        a, b = faiss.ask(q), milvus.ask(q)
        assert not b.found and b.notes == a.notes, q


@NEEDS_MILVUS
def test_add_update_remove_keep_milvus_in_step(tmp_path, tiny_model):
    """A document added, changed and removed: Milvus returns exactly what the folder holds, and its BM25
    equals the embedded index's after each step (IDF stays corpus-wide)."""
    corpus = tmp_path / "documents"
    corpus.mkdir()
    for city in ("咸宁", "大冶"):
        shutil.copy(seed_file(city), corpus)
    base = Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index", model=tiny_model, device="cpu")
    m = replace(base, backend="milvus", milvus_uri=str(tmp_path / "m.db"))
    build(m, progress=False)

    def sources(settings, q):
        s = Searcher(settings)
        return {mode: {h.source for h in s.ask(q, mode=mode, top_k=10).hits} for mode in ("bm25", "dense", "hybrid")}

    def bm25(settings, q):
        return [(h.source, h.start, h.bm25) for h in Searcher(settings).ask(q, mode="bm25", top_k=10).hits]

    def same_bm25(q):
        """Same passages in the same order; scores within 1% (the weights' average length may lag the live
        one by up to REWEIGHT_DRIFT until a build re-weights every row)."""
        a, b = bm25(m, q), bm25(base, q)
        assert [x[:2] for x in a] == [x[:2] for x in b], q
        assert np.allclose([x[2] for x in a], [x[2] for x in b], rtol=REWEIGHT_DRIFT, atol=1e-4), q

    (corpus / "测试县-2023年科技工作要点.txt").write_text(NEW_DOC, encoding="utf-8")
    report = build(m, progress=False)
    assert any("+1 documents" in n for n in report.notes)
    assert "测试县-2023年科技工作要点.txt" in sources(m, "量子通信联合实验室")["bm25"]
    same_bm25("量子通信联合实验室 高新技术企业")

    (corpus / "测试县-2023年科技工作要点.txt").write_text(CHANGED_DOC, encoding="utf-8")
    build(m, progress=False)
    s = Searcher(m)
    for mode in ("bm25", "dense", "hybrid"):  # the old version's rows are gone
        assert not any("量子" in h.text for h in s.ask("量子通信联合实验室", mode=mode, top_k=10).hits), mode
    assert "测试县-2023年科技工作要点.txt" in sources(m, "磁悬浮风洞试验平台")["bm25"]
    same_bm25("磁悬浮风洞试验平台 科技")

    (corpus / "测试县-2023年科技工作要点.txt").unlink()
    build(m, progress=False)
    for mode, found in sources(m, "磁悬浮风洞试验平台").items():
        assert "测试县-2023年科技工作要点.txt" not in found, mode
    s = Searcher(m)
    assert "测试县-2023年科技工作要点.txt" not in {d.source for d in s.index.docs.values()}
    assert s.index.n == Searcher(base).index.manifest["passages"]
    same_bm25("科技 高新技术企业 特派员")


@NEEDS_MILVUS
def test_status_names_backend_uri_rows_and_indexes(both, seed_settings, capsys):
    from policyqa.cli import main

    _, milvus = both
    uri = milvus.settings.milvus_uri
    assert main(["status", "--index", str(seed_settings.index_dir), "--corpus", str(seed_settings.corpus_dir),
                 "--backend", "milvus", "--milvus-uri", uri]) == 0
    out = capsys.readouterr().out
    assert f"backend:    milvus (milvus-lite file) at {uri}" in out
    assert f"policyqa_passages: {milvus.index.n} rows" in out
    assert "vector FLAT IP" in out and "SPARSE_INVERTED_INDEX" in out


def test_uri_shown_without_secrets():
    assert display_uri("http://root:Milvus@db.example.org:19530") == "http://db.example.org:19530"
    assert display_uri("https://token@in03.cloud.zilliz.com/x") == "https://in03.cloud.zilliz.com/x"
    assert display_uri("var/milvus.db") == "var/milvus.db"


def test_missing_cluster_extra_is_one_line_naming_the_install(tmp_path):
    """Without pymilvus (blocked in a child process), --backend milvus fails in one line, no traceback."""
    code = ("import sys; sys.modules['pymilvus'] = None; sys.modules['ray'] = None\n"
            "from policyqa.cli import main; sys.exit(main(sys.argv[1:]))")
    for args in (["ask", "科技", "--index", str(tmp_path / "i"), "--backend", "milvus"],
                 ["build", "--index", str(tmp_path / "i"), "--corpus", str(REPO / "documents"), "--ray", "--quiet"]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'policyqa[cluster]'" in lines[0], r.stderr


@NEEDS_MILVUS
def test_a_new_lifecycle_reader_rebuilds_milvus_and_statuses_follow(tmp_path, tiny_model, monkeypatch):
    """Milvus keeps each document's metadata in its own rows: when the build reads documents' dates anew
    (another lifecycle reader), the collections are rebuilt from the index, never left with the old reading."""
    import policyqa.index.build as build_module

    corpus = tmp_path / "documents"
    shutil.copytree(REPO / "eval" / "lifecycle" / "documents", corpus)
    base = Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index", model=tiny_model, device="cpu")
    m = replace(base, backend="milvus", milvus_uri=str(tmp_path / "m.db"))
    build(m, progress=False)
    monkeypatch.setattr(build_module, "LIFECYCLE_READER", "lifecycle-next")  # as a newer policyqa would write
    report = build(m, progress=False)
    assert any("lifecycle reader changed: the Milvus collections are rebuilt" in n for n in report.notes), report.notes
    embedded = Searcher(base).ask("科技特派员管理办法", mode="bm25", top_k=5, filters=Filters(as_of="2024-01-01"))
    milvus = Searcher(m).ask("科技特派员管理办法", mode="bm25", top_k=5, filters=Filters(as_of="2024-01-01"))
    statuses = [(h.source, h.standing.status if h.standing else None) for h in embedded.hits]
    assert statuses == [(h.source, h.standing.status if h.standing else None) for h in milvus.hits]
    assert any(s == "已废止" for _, s in statuses), statuses
