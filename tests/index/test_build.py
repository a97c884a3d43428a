"""Building the index for real: manifest, reuse of unchanged work, mismatch detection, errors."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from policyqa.config import DEFAULT_MODEL
from policyqa.corpus.sections import ChunkParams
from policyqa.errors import BuildLocked, EmptyCorpus, IndexMismatch
from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.index.store.loaded import load
from policyqa.qa.search import Searcher


def test_manifest_records_model_chunker_and_documents(seed_settings):
    m = layout.require_current(seed_settings.index_dir).manifest()
    assert m["model"] == DEFAULT_MODEL == "e5-small" and m["dimension"] == 384 and len(m["model_fingerprint"]) == 16
    assert m["chunker"] == seed_settings.chunking.chunker_id
    assert len(m["documents"]) == 5 and all(len(d["doc_id"]) == 20 for d in m["documents"].values())
    idx = load(seed_settings.index_dir)
    assert sum(s["rows"] for s in m["segments"]) == len(list(idx.passages)) == m["passages"]


def test_vectors_are_normalized_and_match_passages(seed_settings):
    import numpy as np

    idx = load(seed_settings.index_dir)
    vecs = np.vstack([s.vectors for s in idx.segments])
    assert len(vecs) == len(idx.passages) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


@pytest.fixture()
def small_corpus(tmp_path, tiny_settings):
    corpus = tmp_path / "documents"
    corpus.mkdir()
    for name in sorted(p.name for p in tiny_settings.corpus_dir.iterdir())[:2]:
        shutil.copy(tiny_settings.corpus_dir / name, corpus / name)
    return tiny_settings.with_(corpus_dir=corpus, index_dir=tmp_path / "index")


def test_rebuild_with_nothing_changed_embeds_nothing(small_corpus):
    first = build(small_corpus, progress=False)
    assert first.embedded == first.passages > 0
    again = build(small_corpus, progress=False)
    assert again.embedded == 0 and again.unchanged == 2 and not again.added


def test_same_content_under_two_names_is_indexed_once(small_corpus):
    build(small_corpus, progress=False)
    src = sorted(small_corpus.corpus_dir.iterdir())[0]
    shutil.copy(src, small_corpus.corpus_dir / "copy-of-it.txt")
    report = build(small_corpus, progress=False)
    assert report.documents == 2 and report.duplicates == [("copy-of-it.txt", src.name)]
    assert "same content" in report.summary()


def test_index_of_another_chunker_is_refused_with_the_fix(small_corpus):
    build(small_corpus, progress=False)
    other = replace(small_corpus, chunking=ChunkParams(max_chars=256))
    with pytest.raises(IndexMismatch, match="policyqa build"):
        Searcher(other)
    report = build(other, progress=False)
    assert any("chunker changed" in n for n in report.notes)
    Searcher(other)  # rebuilt: accepted now


def test_index_of_another_model_is_refused(small_corpus):
    build(small_corpus, progress=False)
    with pytest.raises(IndexMismatch, match="--model other-model"):
        Searcher(small_corpus, model="other-model")


def test_unreadable_file_is_reported_and_the_rest_indexed(small_corpus):
    (small_corpus.corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    report = build(small_corpus, progress=False)
    assert report.documents == 2 and [s.source for s in report.skipped] == ["broken.pdf"]
    assert "broken.pdf" in report.summary()


def test_empty_corpus_is_an_error_and_keeps_the_previous_index(small_corpus):
    build(small_corpus, progress=False)
    before = layout.current(small_corpus.index_dir).path
    for f in small_corpus.corpus_dir.iterdir():
        f.unlink()
    with pytest.raises(EmptyCorpus, match="no readable documents"):
        build(small_corpus, progress=False)
    assert layout.current(small_corpus.index_dir).path == before


def test_second_writer_gets_a_clear_message(small_corpus):
    from filelock import FileLock

    small_corpus.index_dir.mkdir(parents=True)
    with FileLock(str(small_corpus.index_dir / "build.lock")), pytest.raises(BuildLocked, match="another build"):
        build(small_corpus, progress=False)


def test_an_encoder_passed_in_embeds_the_build_and_the_questions(tiny_settings, tmp_path):
    """A caller (a benchmark's stand-in, a test) hands build, add and the backend an encoder of its
    own instead of patching the model's functions: what it embeds is what the index holds and asks with."""
    from policyqa.encode import embedder, encoders
    from policyqa.index.backends import open_backend
    from policyqa.index.update import add_files
    from tests.support.indexes import copy_of

    enc = encoders.load(tiny_settings.model, "fp32", "cpu", tmp_path / "encoders")
    s = copy_of(tiny_settings, tmp_path).with_(index_dir=tmp_path / "fresh")
    report = build(s, progress=False, encoder=enc)
    assert report.embedded == report.passages > 0  # a new index: every passage went through `enc`
    manifest = layout.current(s.index_dir).manifest()
    assert manifest["model_fingerprint"] == embedder.fingerprint(tiny_settings.model) and manifest["encoder"] == enc.variant
    searcher = Searcher(s, handle=open_backend(s, encoder=enc))
    assert searcher.handle.encoder(searcher.backend) is enc
    extra = tmp_path / "新文件.txt"
    extra.write_text("测试县2024年科技工作要点\n一、总体目标\n全县建设量子通信联合实验室2家。\n", encoding="utf-8")
    assert add_files(s, [extra], progress=False, encoder=enc).added == ["新文件.txt"]
    assert searcher.ask("量子通信联合实验室", top_k=1).hits[0].source == "新文件.txt"
