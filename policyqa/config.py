"""All configuration in one place: defaults, overridable by environment and command-line flags.

Settings are plain values handed down to each stage as arguments. Nothing here reads the
environment on its own: the command line calls `Settings.from_env(os.environ)`, so a library
user, a test or a benchmark gets the same defaults whatever the shell holds.

Environment variables (all optional, read by the CLI):
  POLICYQA_CORPUS    folder of documents          (default: ./documents)
  POLICYQA_INDEX     folder of the built index    (default: ./var/index)
  POLICYQA_MODEL     e5-small | m3e-small | a sentence-transformers model name or path (default: e5-small for a new
                     index; a build without it keeps the model an existing index was built with)
  POLICYQA_RERANKER  cross-encoder name or local folder to re-order the top candidates (default: unset = off)
  POLICYQA_DEVICE    cpu | cuda (default: cuda when available, else cpu)
  POLICYQA_EMBED_CHUNK  passages embedded (and cached) per step of a build (default: 512)
  POLICYQA_ENCODER   auto | fp32 | bf16 | openvino | onnx | onnx-int8 (default: auto; docs/performance.md "Encoders")
  POLICYQA_BACKEND   faiss | milvus: where passages are stored and searched (default: faiss, the embedded index)
  POLICYQA_MILVUS_URI   milvus-lite file (./var/milvus.db) or server (http://host:19530) (default: var/milvus.db)
  POLICYQA_MILVUS_TOKEN, POLICYQA_MILVUS_USER, POLICYQA_MILVUS_PASSWORD  Milvus credentials (never flags)
  POLICYQA_ALLOWED_HOSTS  more Host names `serve` answers, comma-separated (beside --allowed-host)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from policyqa.corpus.sections import ChunkParams
from policyqa.encode.models import canonical

DEFAULT_MODEL = "e5-small"  # the models by name, their licences and prompts: encode/models.py (docs/model.md)
# Cosines are not comparable across models (e5's sit higher), so the no-answer threshold is the
# model's own, each chosen by `python -m policyqa.eval.tune threshold --model NAME`; a model not
# listed gets OTHER_MODEL's (m3e-small's, the first ones chosen: nothing was tuned for it).
NO_ANSWER_THRESHOLDS = {"m3e-small": 0.68, "e5-small": 0.85}
OTHER_MODEL = "m3e-small"
# Dense : BM25 weights of the weighted fusion, per model for the same reason (e5-small's dense scores
# spread differently), each chosen by `python -m policyqa.eval.tune fusion --model NAME` (docs/evaluation.md).
FUSION_WEIGHTS = {"m3e-small": (0.5, 0.5), "e5-small": (0.3, 0.7)}
MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class Retrieval:
    """Ranking knobs; defaults were chosen on the evaluation set (docs/evaluation.md, "Choosing defaults")."""

    fusion: str = "weighted"  # weighted (normalised scores) | rrf (reciprocal rank)
    normalise: str = "minmax"  # the weighted fusion's scale: minmax | max | z (qa/fusion.py NORMALISERS)
    rrf_k: int = 60
    dense_weight: float | None = None  # None: the model's own (FUSION_WEIGHTS)
    bm25_weight: float | None = None
    candidates: int = 100  # per retriever, before fusion
    per_doc: int = 3  # passages of one document in the top results, unless its city is asked for
    no_answer_threshold: float | None = None  # top cosine below: 未找到相关内容; None: the model's (NO_ANSWER_THRESHOLDS)
    answer_depth: int = 5  # hits searched for the sum, day or count in a named unit asked for; none: 未找到相关内容
    understand_query: bool = True  # places/years/types named in the question filter and boost
    rerank_depth: int = 30  # fused candidates re-ordered by the cross-encoder, when Settings.reranker is set
    # a passage whose document is of the year or type the question names, and one whose own text holds
    # the year, move up by these factors (a preference, not a filter: docs/evaluation.md)
    metadata_boost: float = 1.15
    # a place named in the question is a preference (docs/places.md): its documents' passages move up by this
    # factor over those of documents with no place label, which stay eligible; other places' documents do not.
    # 1.2–1.3 ranked every eval/places question's document best (1.1: a place's own document second; 1.5: an
    # unlabelled one second), so the middle
    place_boost: float = 1.25
    year_in_passage_boost: float = 1.1
    support: float = 0.3  # share of the best place's topical weight a place must reach to be listed (by sweep)
    aggregate_depth: int = 60  # passages considered when listing places (哪些城市), so none is crowded out
    rule_scan_docs: int = 5_000  # past this many documents the refusal rules read the candidates' documents only

    def for_model(self, model: str) -> Retrieval:
        """These knobs with the fusion weights left unset filled in with `model`'s own."""
        if self.dense_weight is not None and self.bm25_weight is not None:
            return self
        dense, bm25 = FUSION_WEIGHTS.get(canonical(model), FUSION_WEIGHTS[OTHER_MODEL])
        return replace(self, dense_weight=dense if self.dense_weight is None else self.dense_weight,
                       bm25_weight=bm25 if self.bm25_weight is None else self.bm25_weight)

    def threshold_for(self, model: str) -> float:
        """The no-answer threshold for answers found with `model`: the set one, else the model's own."""
        if self.no_answer_threshold is not None:
            return self.no_answer_threshold
        return NO_ANSWER_THRESHOLDS.get(canonical(model), NO_ANSWER_THRESHOLDS[OTHER_MODEL])


@dataclass(frozen=True)
class Publishing:
    """When a build publishes before it ends, so a new corpus answers by BM25 while it embeds
    (index/build.py; docs/updates.md "Progressive builds"). A commit is cut every `every_docs` documents
    read or `every_seconds`, whichever comes first, and the passages read are published before embedding
    starts once at least `early_rows` of them wait for vectors; smaller builds publish once, at the end."""

    every_docs: int = 2_000
    every_seconds: float = 30.0
    early_rows: int = 500  # about half a minute of embedding on two cores: less is not worth a commit


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("documents")
    index_dir: Path = Path("var/index")
    model: str = DEFAULT_MODEL
    # a sentence-transformers CrossEncoder (name or local folder); None = no reranking, nothing loaded
    reranker: str | None = None
    device: str | None = None  # None: cuda when available, else cpu
    # auto | fp32 | bf16 | openvino | onnx | onnx-int8 (encode/encoders.py; docs/performance.md "Encoders"): auto =
    # openvino on a CPU where it is installed (bf16 inside on AVX-512 BF16/AMX), else bf16 there, fp16 on a GPU, else fp32
    encoder: str = "auto"
    batch_size: int = 32
    embed_chunk: int = 512  # passages embedded and cached per step: a killed build loses at most this many
    # auto | flat | hnsw | ivf-sq8: exact inner product, or an approximate FAISS index per segment
    # (auto: flat until the index holds more than index.merging.AUTO_ANN_FROM passages, then hnsw)
    vectors: str = "auto"
    chunking: ChunkParams = ChunkParams()
    retrieval: Retrieval = Retrieval()
    publishing: Publishing = Publishing()
    backend: str = "faiss"  # faiss: the embedded index | milvus: a Milvus collection (index/backends/milvus/search.py)
    milvus_uri: str = "var/milvus.db"  # a milvus-lite file, or http://host:19530 for a server or cluster
    milvus_collection: str = "policyqa"
    ray_address: str | None = None  # None: embed here; "local": a local Ray; else a Ray cluster's address
    milvus_token: str | None = field(default=None, repr=False)  # token or user:password, from the environment only
    ocr: bool = True  # read scanned PDF pages and pictures in .docx by OCR (policyqa build|add --no-ocr: off)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Defaults overridden by the POLICYQA_* variables set (and non-empty) in `env`."""
        get = lambda name: env.get(name) or None  # an empty variable counts as unset
        chunk = get("POLICYQA_EMBED_CHUNK")
        return cls().with_(
            corpus_dir=Path(get("POLICYQA_CORPUS")) if get("POLICYQA_CORPUS") else None,
            index_dir=Path(get("POLICYQA_INDEX")) if get("POLICYQA_INDEX") else None,
            model=get("POLICYQA_MODEL"),
            reranker=get("POLICYQA_RERANKER"),
            device=get("POLICYQA_DEVICE"),
            encoder=get("POLICYQA_ENCODER"),
            embed_chunk=int(chunk) if chunk else None,
            backend=get("POLICYQA_BACKEND"),
            milvus_uri=get("POLICYQA_MILVUS_URI"),
            milvus_token=get("POLICYQA_MILVUS_TOKEN") or (
                f"{get('POLICYQA_MILVUS_USER')}:{get('POLICYQA_MILVUS_PASSWORD') or ''}" if get("POLICYQA_MILVUS_USER") else None),
        )

    def with_(self, **changes) -> Settings:
        """A copy with the non-None changes applied (command-line flags left unset change nothing)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
