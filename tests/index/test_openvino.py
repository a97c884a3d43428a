"""The openvino encoder (encode/openvino.py): fp32's vectors for both models, its IR converted once per
weights, and `auto` choosing it where it is installed (and falling back where it is not)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import numpy as np
import pytest

from policyqa.encode import embedder, encoders, models
from policyqa.encode import openvino as ov
from tests.support.models import scale_word_embeddings
from tests.support.seeds import seed_file

pytestmark = pytest.mark.skipif(not ov.available(), reason="openvino not installed (pip install 'policyqa[openvino]')")
QUESTIONS = ["荆州2022年新增了多少家高新技术企业", "哪些城市设立了科技特派员工作站"]


def _passages() -> list[str]:
    """Real seed passages of different lengths (a batch pads to its longest)."""
    text = seed_file("荆州").read_text(encoding="utf-8") + seed_file("大冶").read_text(encoding="utf-8")
    return [text[i : i + n] for i, n in zip(range(0, 4000, 500), (500, 120, 480, 60, 300, 500, 20, 400))]


def _m3e_installed() -> bool:
    return importlib.util.find_spec("embedding") is not None


@pytest.mark.slow  # the real models
@pytest.mark.parametrize("model", [models.E5.name, pytest.param(models.M3E.name, marks=pytest.mark.skipif(
    not _m3e_installed(), reason=f"m3e-small not installed ({models.M3E_INSTALL})"))])
def test_openvino_vectors_match_fp32_for_passages_and_questions(model, tmp_path):
    texts = _passages()
    fp32 = encoders.load(model, "fp32", "cpu")
    enc = encoders.load(model, "openvino", "cpu", tmp_path)
    assert enc.variant == "openvino" and enc.prompts == fp32.prompts  # e5: "query: " / "passage: "
    passages = enc.passages(texts, batch_size=3)
    assert passages.shape == (len(texts), fp32.dimension) and passages.dtype == np.float32
    assert float(np.sum(passages * fp32.passages(texts), axis=1).min()) >= 0.9999
    questions = enc.questions(QUESTIONS)
    assert float(np.sum(questions * fp32.questions(QUESTIONS), axis=1).min()) >= 0.9999
    # each question's nearest passage is fp32's nearest, or one fp32 scores level with it: with bf16 (AMX) two
    # passages within 0.0002 of each other may swap, and a tie broken either way is the same answer
    exact = fp32.questions(QUESTIONS) @ fp32.passages(texts).T
    picked = exact[np.arange(len(QUESTIONS)), np.argmax(questions @ passages.T, 1)]
    assert float((exact.max(1) - picked).max()) <= 0.001


def test_the_ir_is_converted_once_per_weights_and_read_again(tiny_model, tmp_path, monkeypatch):
    """A second load reads the cached IR (no conversion); new weights under the same path get a new one."""
    monkeypatch.setattr(ov, "MODELS_CACHE", tmp_path / "models")
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    first = encoders.load(str(model), "openvino", "cpu", tmp_path / "encoders")
    ir = ov.folder(ov.MODELS_CACHE, embedder.fingerprint(str(model), "cpu")) / "model.xml"
    assert ir.exists() and first.fingerprint == embedder.fingerprint(str(model), "cpu")
    made = ir.stat().st_mtime_ns
    encoders.load.cache_clear()
    again = encoders.load(str(model), "openvino", "cpu", tmp_path / "encoders")
    assert ir.stat().st_mtime_ns == made  # read, not converted again
    assert np.array_equal(again.passages(_passages()[:3]), first.passages(_passages()[:3]))

    scale_word_embeddings(model)
    changed = encoders.load(str(model), "openvino", "cpu", tmp_path / "encoders")
    assert changed.fingerprint != first.fingerprint
    assert (ov.folder(ov.MODELS_CACHE, changed.fingerprint) / "model.xml").exists()
    fp32 = encoders.load(str(model), "fp32", "cpu").passages(_passages()[:3])
    assert float(np.sum(changed.passages(_passages()[:3]) * fp32, axis=1).min()) >= 0.9999  # the new weights' vectors


def test_auto_picks_openvino_on_the_cpu_where_it_is_installed():
    assert encoders.resolve("auto", "cpu") == "openvino"
    assert encoders.resolve("auto", "cpu", flags=frozenset({"avx2"})) == "openvino"  # f32 inside, on a CPU without bf16
    assert encoders.resolve("auto", "cuda") == "fp16"
    assert ov.precision(True) == "bf16" and ov.precision(False) == "f32"
    assert "openvino" in encoders.EXACT  # an index built with it may be asked by the numpy questions, and vice versa
    with pytest.raises(encoders.EncoderError, match="CPU only"):
        encoders.resolve("openvino", "cuda")


HIDE_OPENVINO = ("import sys; sys.modules['openvino'] = None; from policyqa.encode import encoders; "
                 "print(encoders.resolve('auto', 'cpu', flags=frozenset({'avx512_bf16'})), "
                 "encoders.resolve('auto', 'cpu', flags=frozenset({'avx2'})))")


@pytest.mark.slow  # a fresh process
def test_without_openvino_auto_falls_back_to_torch_and_asking_for_it_names_the_install():
    run = subprocess.run([sys.executable, "-c", HIDE_OPENVINO], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["bf16", "fp32"]
    code = HIDE_OPENVINO.split("print(")[0] + "encoders.resolve('openvino', 'cpu')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and ov.INSTALL in run.stderr
