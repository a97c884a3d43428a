"""Encoders for real: each variant runs the real model, auto picks by the CPU's instructions,
and an index built with one encoder is asked with another as docs/performance.md "Encoders" says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from policyqa.config import Settings
from policyqa.encode import encoders
from policyqa.encode import openvino as ov
from policyqa.errors import IndexMismatch
from policyqa.index.build import build
from policyqa.index.store import layout
from policyqa.qa.search import Searcher
from tests.support.seeds import seed_file

ONNX_MISSING = "onnxruntime/onnx not installed (pip install 'policyqa[onnx]')"
NO_BF16 = frozenset({"sse4_2", "avx2", "avx512f", "avx512_vnni"})  # an AVX-512 CPU without the BF16/AMX units
WITH_BF16 = NO_BF16 | {"avx512_bf16"}


def _texts() -> list[str]:
    text = seed_file("荆州").read_text(encoding="utf-8")
    return [text[i : i + 400] for i in range(0, 2400, 400)] + ["科技特派员"]


def _variant_params() -> list:
    params = []
    for v in encoders.VARIANTS:
        marks = []
        if v == "fp16":
            marks.append(pytest.mark.skip(reason="fp16 runs on a GPU (--device cuda); none here"))
        if v.startswith("onnx") and not encoders.onnx_available():
            marks.append(pytest.mark.skip(reason=ONNX_MISSING))
        params.append(pytest.param(v, marks=marks, id=v))
    return params


@pytest.fixture(scope="module")
def fp32_vectors():
    return encoders.load("m3e-small", "fp32", None).passages(_texts())


@pytest.mark.slow  # the real model
@pytest.mark.parametrize("variant", _variant_params())
def test_every_variant_gives_unit_vectors_of_the_model_dimension(variant, fp32_vectors, tmp_path):
    enc = encoders.load("m3e-small", variant, None, tmp_path)
    texts = _texts()
    passages = enc.passages(texts, batch_size=4)
    questions = enc.questions(["荆州2022年新增了多少家高新技术企业", texts[0]])
    for vecs, n in ((passages, len(texts)), (questions, 2)):
        assert vecs.shape == (n, 512) and vecs.dtype == np.float32
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(passages * fp32_vectors, axis=1)
    # the exact family agrees with fp32 closely enough to share an index; int8 only roughly
    assert cosine.min() >= (0.999 if variant in encoders.EXACT else 0.9)
    # the same passage embedded in a batch and alone lands in the same place (order/batching do not matter)
    assert float(questions[1] @ passages[0]) >= (0.999 if variant in encoders.EXACT else 0.95)


def test_auto_picks_bf16_only_where_the_cpu_has_the_instructions():
    """Without OpenVINO (tests/index/test_openvino.py: auto picks it where installed), torch's bf16 needs the units."""
    cpu = "openvino" if ov.available() else None
    assert encoders.resolve("auto", "cpu", flags=WITH_BF16) == (cpu or "bf16")
    assert encoders.resolve("auto", "cpu", flags=WITH_BF16 - {"avx512_bf16"} | {"amx_bf16"}) == (cpu or "bf16")
    assert encoders.resolve("auto", "cpu", flags=NO_BF16) == (cpu or "fp32")
    assert encoders.resolve("auto", "cuda", flags=NO_BF16) == "fp16"
    assert encoders.resolve("bf16", "cuda") == "fp16"
    # an index built with bf16, asked on a CPU without it: fp32 questions, which agree with bf16 passages
    assert encoders.for_index("auto", "bf16", "cpu", flags=NO_BF16) == (cpu or "fp32")
    assert encoders.for_index("auto", "bf16", "cpu", flags=WITH_BF16) == "bf16"
    assert encoders.for_index("auto", None, "cpu", flags=WITH_BF16) == "fp32"  # built before encoders were recorded
    with pytest.raises(encoders.EncoderError, match="unknown encoder 'int4'"):
        encoders.resolve("int4", "cpu")
    with pytest.raises(encoders.EncoderError, match="GPU"):
        encoders.resolve("fp16", "cpu")


def test_auto_without_the_instructions_encodes_as_fp32(tiny_model):
    """torch fp32 itself, or OpenVINO in f32 where it is installed (agreeing to a cosine of 0.9999)."""
    variant = encoders.resolve("auto", "cpu", flags=NO_BF16)
    texts = _texts()[:3]
    auto = encoders.load(tiny_model, variant, "cpu").passages(texts)
    fp32 = encoders.load(tiny_model, "fp32", "cpu").passages(texts)
    assert np.array_equal(auto, fp32) if variant == "fp32" else float(np.sum(auto * fp32, axis=1).min()) >= 0.9999


HIDE_ONNX = ("import sys; sys.modules['onnxruntime'] = None; sys.modules['onnx'] = None; "
             "from policyqa.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.slow  # a fresh process
def test_onnx_without_onnxruntime_fails_in_one_line_naming_the_install(tmp_path, tiny_model):
    corpus = tmp_path / "documents"
    corpus.mkdir()
    shutil.copy(seed_file("广水"), corpus)
    run = subprocess.run([sys.executable, "-c", HIDE_ONNX, "build", "--corpus", str(corpus), "--index", str(tmp_path / "index"),
                          "--encoder", "onnx", "--model", tiny_model, "--quiet"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "policyqa build: error: encoder onnx needs ONNX Runtime, which is not installed: " + encoders.ONNX_INSTALL
    ]
    assert not (tmp_path / "index" / "CURRENT").exists()


@pytest.fixture()
def two_docs(tmp_path) -> Settings:
    corpus = tmp_path / "documents"
    corpus.mkdir()
    for city in ("荆州", "广水"):
        shutil.copy(seed_file(city), corpus)
    return Settings().with_(corpus_dir=corpus, index_dir=tmp_path / "index")


QUESTIONS = ["荆州2022年新增了多少家高新技术企业", "广水市科技创新工作的主要目标", "科技特派员"]


@pytest.mark.slow  # the real model
def test_an_index_built_with_bf16_answers_fp32_questions_alike(two_docs):
    build(two_docs.with_(encoder="bf16"), progress=False)
    assert layout.require_current(two_docs.index_dir).manifest()["encoder"] == "bf16"
    by_bf16, by_fp32 = Searcher(two_docs.with_(encoder="bf16")), Searcher(two_docs.with_(encoder="fp32"))
    for q in QUESTIONS:
        a, b = by_bf16.ask(q, top_k=5, mode="dense"), by_fp32.ask(q, top_k=5, mode="dense")
        assert [h.doc_id for h in a.hits][:1] == [h.doc_id for h in b.hits][:1]
        assert (a.hits[0].start, a.hits[0].end) == (b.hits[0].start, b.hits[0].end)
        assert abs(a.hits[0].score - b.hits[0].score) < 1e-3


def test_auto_keeps_the_encoder_an_index_was_built_with_and_a_switch_re_embeds(two_docs, tiny_model):
    two_docs = two_docs.with_(model=tiny_model, device="cpu")
    first = build(two_docs.with_(encoder="fp32"), progress=False)
    again = build(two_docs.with_(encoder="auto"), progress=False)
    assert again.embedded == 0 and not again.changed
    assert layout.require_current(two_docs.index_dir).manifest()["encoder"] == "fp32"
    switched = build(two_docs.with_(encoder="bf16"), progress=False)
    assert switched.embedded == first.embedded and any("encoder changed (fp32 → bf16)" in n for n in switched.notes)
    assert layout.require_current(two_docs.index_dir).manifest()["encoder"] == "bf16"


@pytest.mark.slow  # the real model
@pytest.mark.skipif(not encoders.onnx_available(), reason=ONNX_MISSING)
def test_an_int8_index_is_refused_to_other_encoders_with_the_fix(two_docs):
    build(two_docs.with_(encoder="onnx-int8"), progress=False)
    assert Searcher(two_docs.with_(encoder="auto")).ask(QUESTIONS[0], top_k=1).hits  # auto asks as it was built
    with pytest.raises(IndexMismatch, match=r"embedded with encoder onnx-int8.*--encoder onnx-int8"):
        Searcher(two_docs.with_(encoder="fp32"))
    cli = subprocess.run([sys.executable, "-m", "policyqa.cli", "ask", QUESTIONS[0], "--index", str(two_docs.index_dir),
                          "--encoder", "bf16", "--json"], capture_output=True, text=True, timeout=600)
    assert cli.returncode == 2 and len(cli.stderr.strip().splitlines()) == 1 and "--encoder onnx-int8" in cli.stderr
    ok = subprocess.run([sys.executable, "-m", "policyqa.cli", "ask", QUESTIONS[0], "--index", str(two_docs.index_dir), "--json"],
                        capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0 and json.loads(ok.stdout)["results"]
