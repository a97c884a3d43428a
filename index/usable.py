"""Whether an index can answer as it is, and the one command that fixes it when it cannot.

Every backend records what built it (format, model, the model's weights, chunker, encoder); a
reader compares that record with what it would query with, here and nowhere else, so the embedded
index and a Milvus collection refuse in the same words and name the same kind of fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policyqa.config import Settings
from policyqa.encode import embedder, encoders
from policyqa.encode.encoders import Encoder
from policyqa.encode.models import canonical
from policyqa.errors import IndexMismatch
from policyqa.index.store.schema import Manifest


@dataclass(frozen=True)
class Target:
    """Where an index lives, as the command that rebuilds it must name it."""

    index_dir: Path | None = None
    corpus_dir: Path | None = None  # the folder a plain `policyqa build` would read
    milvus_uri: str | None = None  # a Milvus collection instead of the embedded index

    @property
    def what(self) -> str:
        return f"the collection at {self.milvus_uri}" if self.milvus_uri else f"the index in {self.index_dir}"

    def fix(self, built_from: str | None = None, model: str | None = None, encoder: str | None = None) -> str:
        """The build that fixes the index: with `--corpus` when it was built from another folder than a
        plain build would read (`built_from`, from its manifest), else that build would index the wrong one."""
        if self.milvus_uri:
            cmd = f"policyqa build --backend milvus --milvus-uri {self.milvus_uri}"
        else:
            cmd = f"policyqa build --index {self.index_dir}"
        if built_from and (self.corpus_dir is None or Path(built_from) != Path(self.corpus_dir).resolve()):
            cmd += f" --corpus {built_from}"
        return cmd + (f" --model {model}" if model else "") + (f" --encoder {encoder}" if encoder else "")


def rebuild_command(index_dir: Path, manifest: Manifest | None = None, corpus_dir: Path | None = None) -> str:
    """`policyqa build` for the embedded index in `index_dir`, with the folder it was built from."""
    return Target(Path(index_dir), corpus_dir).fix((manifest or {}).get("corpus_dir"))


def problem(built: dict, target: Target, *, chunker: str, model: str | None = None, fingerprint: str | None = None,
            fmt: int | None = None) -> str | None:
    """Why an index recorded as `built` cannot be queried with this model, chunker and format, or None.

    `model` None: whichever model built it (ask, serve); `fingerprint` None: weights not checked."""
    fix = lambda **kw: target.fix(built.get("corpus_dir"), **kw)  # noqa: E731
    if fmt is not None and built.get("format") != fmt:
        return f"{target.what} has format {built.get('format')}, this version reads {fmt}; rebuild it with: {fix()}"
    if model and canonical(model) != canonical(built["model"]):
        return f"{target.what} was built with model {built['model']!r}, not {model!r}; re-embed with: {fix(model=model)}"
    if built.get("chunker") != chunker:
        return f"{target.what} was chunked with {built.get('chunker')}, this version uses {chunker}; update it with: {fix()}"
    if fingerprint is not None and fingerprint != built.get("model_fingerprint"):
        return f"the weights of model {built['model']!r} differ from those {target.what} was built with; re-embed with: {fix()}"
    return None


def check(built: dict, target: Target, **wanted) -> None:
    """Raise IndexMismatch, one line naming the fix, when `problem` finds one."""
    why = problem(built, target, **wanted)
    if why:
        raise IndexMismatch(why)


def encoder_mismatch(built_with: str, asked_with: str, target: Target) -> IndexMismatch:
    """Vectors of two encoders that do not agree (onnx-int8 against fp32) must not be compared."""
    return IndexMismatch(f"{target.what} was embedded with encoder {built_with}, whose vectors differ from {asked_with}'s; "
                         f"ask with --encoder {built_with}, or re-embed with: {target.fix(encoder=asked_with)}")


def question_encoder(built: dict, target: Target, settings: Settings) -> Encoder:
    """Questions are encoded as the index's passages were, unless --encoder names another that agrees with them.

    With --encoder auto and an index whose vectors agree with fp32, the model's weights in numpy
    (encode/numpy_bert.py) encode questions: the same vectors, without importing torch."""
    cache = Path(target.index_dir or settings.index_dir) / "encoders"
    if settings.encoder == "auto" and built.get("encoder", "fp32") in encoders.EXACT:
        light = encoders.light_questions(built["model"], cache)
        if light is not None:
            return light
    device = embedder.resolve_device(settings.device)
    variant = encoders.for_index(settings.encoder, built.get("encoder"), device)
    return encoders.load(built["model"], variant, settings.device, cache)


def check_questions(built: dict, target: Target, settings: Settings, enc: Encoder) -> None:
    """Refuse to ask with weights, or an encoder, whose vectors would not match the index's."""
    weights = getattr(enc, "fingerprint", None) or embedder.fingerprint(built["model"], settings.device)
    check(built, target, chunker=built.get("chunker"), fingerprint=weights)
    if enc.variant == "numpy":  # fp32's vectors: they agree with every variant in EXACT, the index's among them
        return
    built_with = built.get("encoder", "fp32")
    asked_with = encoders.for_index(settings.encoder, built_with, embedder.resolve_device(settings.device))
    if not encoders.compatible(built_with, asked_with):
        raise encoder_mismatch(built_with, asked_with, target)
