"""Questions encoded in numpy from the model's own weights (encode/numpy_bert.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from policyqa.encode import embedder, encoders, numpy_bert, unigram_slice
from policyqa.errors import IndexMismatch
from policyqa.qa.search import Searcher
from tests.support.models import scale_word_embeddings

QUESTIONS = ["哪些城市设立了科技特派员工作站", "荆州2022年新增了多少家高新技术企业", "What is 人工智能? AI与5G的融合",
             "大冶市“科创贷”贷款多少", "科技" * 400]  # the last is cut at 512 tokens, as sentence-transformers cuts it


@pytest.mark.slow  # the real models
@pytest.mark.parametrize("model", ["e5-small", "m3e-small"])  # XLM-R with prompts ("query: "), BERT without
def test_numpy_questions_equal_sentence_transformers(model, tmp_path):
    path = Path(embedder.resolve_model(model))
    st = embedder.load_model(model, "cpu")
    assert numpy_bert.supported(st) is None
    numpy_bert.export(st, embedder.fingerprint(model, "cpu"), path, tmp_path, encoders.exact_prompts(st, model))
    engine = numpy_bert.cached(path, tmp_path)
    assert engine is not None and engine.fingerprint == embedder.fingerprint(model, "cpu")
    assert engine.prompts == encoders.exact_prompts(st, model)
    ours = engine.questions(QUESTIONS)
    theirs = encoders.load(model, "fp32", "cpu").questions(QUESTIONS)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert float((ours * theirs).sum(1).min()) > 0.99999
    # e5-small's 250,000-piece tokenizer is opened sliced (0.8 s less per fresh ask), and never whole for these
    sliced = isinstance(engine.tokenizer, unigram_slice.Sliced)
    assert sliced == (model == "e5-small") and (not sliced or engine.tokenizer._full is None)


def test_a_fresh_ask_answers_without_importing_torch(seed_settings):
    """The first ask after a build too: the build exported the question engine, not the first question."""
    code = ("import sys; from policyqa.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH'); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, "ask", "哪些城市设立了科技特派员工作站", "--index",
                          str(seed_settings.index_dir)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO TORCH") and "科技特派员" in out.stdout


def test_the_build_prepares_the_first_question(tiny_model, tmp_path):
    """What a first question needs is made by the build: the first ask after it writes nothing and
    loads no torch model to export one (issue: the first fresh ask at 100k passages took 8.5 s, later ones 1.2 s)."""
    from policyqa.config import Settings
    from policyqa.index.build import build
    from tests.support.seeds import SEEDS

    corpus = tmp_path / "documents"
    corpus.mkdir()
    shutil.copy(sorted(SEEDS.glob("*.txt"))[0], corpus)
    settings = Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index", model=str(tiny_model), device="cpu")
    build(settings, progress=False)
    folder = settings.index_dir / "encoders"
    assert numpy_bert.cached(Path(tiny_model), folder) is not None  # before any question
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    code = ("import sys; from policyqa.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH'); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, "ask", "科技特派员", "--index", str(settings.index_dir),
                          "--model", str(tiny_model)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO TORCH")
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before


def test_an_export_of_an_older_format_is_made_again(tiny_model, tmp_path):
    """An index's export from before the flat weights file is not opened (it has a weights.npz): the next
    build or first question exports again."""
    import json

    st = embedder.load_model(str(tiny_model), "cpu")
    folder = numpy_bert.export(st, embedder.fingerprint(str(tiny_model), "cpu"), Path(tiny_model), tmp_path)
    assert numpy_bert.cached(Path(tiny_model), tmp_path) is not None
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    del meta["format"]
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    assert numpy_bert.exported(Path(tiny_model), tmp_path) is None
    encoders.prepare_questions(str(tiny_model), tmp_path)
    assert numpy_bert.cached(Path(tiny_model), tmp_path) is not None


def test_changed_weights_miss_the_export_and_the_index_is_refused(tiny_model, tmp_path):
    """New weights under the same path are not answered from the old export: they are loaded,
    fingerprinted again, and the index built with the old ones is refused."""
    from policyqa.config import Settings
    from policyqa.index.build import build
    from tests.support.seeds import SEEDS

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    corpus = tmp_path / "documents"
    corpus.mkdir()
    shutil.copy(sorted(SEEDS.glob("*.txt"))[0], corpus)
    settings = Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index", model=str(model), device="cpu")
    build(settings, progress=False)
    searcher = Searcher(settings)
    assert searcher.handle.encoder(searcher.backend).variant == "numpy"  # the tiny BERT runs in numpy too
    assert searcher.ask("科技特派员").hits

    scale_word_embeddings(model)
    assert numpy_bert.cached(model, settings.index_dir / "encoders") is None
    with pytest.raises(IndexMismatch, match="weights of model"):
        Searcher(settings)
