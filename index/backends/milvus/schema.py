"""The Milvus collections policyqa keeps: how to reach them, and their fields, defined once.

Two collections per name: `<name>_passages` (one row per passage: dense vector, a sparse vector
of BM25 document-side weights, and the scalar fields filters run on) and `<name>_catalog`
(documents with their metadata and text, the vocabulary with each term's document frequency,
and one manifest row). `pymilvus` talks the same API to a milvus-lite file, a standalone server
and a cluster, so only the URI changes.

PASSAGE_FIELDS and CATALOG_FIELDS are the only list of the fields: `create` builds the
collections from them, `row` makes a row of them, and every `output_fields=` is taken from them
(`names`, `pick`), so a field added here is created, written and read back everywhere.
"""

from __future__ import annotations

import json
import logging
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from policyqa.config import Settings
from policyqa.errors import MilvusMissing, require

MANIFEST_KEY = "manifest"  # the catalogue row holding the sync's state (the collection's manifest)


@dataclass(frozen=True)
class Field:
    """One field of a collection: its pymilvus DataType name and what a row holds when a writer gives nothing."""

    name: str
    type: str  # a pymilvus DataType member: INT64, FLOAT, VARCHAR, FLOAT_VECTOR, SPARSE_FLOAT_VECTOR
    size: int | None = None  # VARCHAR: max_length; FLOAT_VECTOR: dim (None: the model's dimension)
    default: object = None
    primary: bool = False
    index: tuple[str, str] | None = None  # a vector field's (index type, metric)
    passage: bool = False  # read back to make a Passage (search.MilvusBackend.prefetch)


def _text(name: str, size: int, passage: bool = False) -> Field:
    return Field(name, "VARCHAR", size, "", passage=passage)


def _int(name: str, passage: bool = False) -> Field:
    return Field(name, "INT64", None, 0, passage=passage)


PASSAGE_FIELDS: tuple[Field, ...] = (
    Field("pid", "INT64", primary=True, passage=True),
    Field("vector", "FLOAT_VECTOR", index=("FLAT", "IP")),  # exact, as the embedded index; HNSW for big servers
    Field("lexical", "SPARSE_FLOAT_VECTOR", index=("SPARSE_INVERTED_INDEX", "IP")),  # set once weights are known
    _text("doc_id", 64, passage=True), _text("source", 1024), _text("city", 128), _text("prefecture", 128),
    _text("province", 128), _text("years", 512), _text("doc_type", 64), _text("section", 4096, passage=True),
    _int("year"), _int("ordinal", True), _int("start", True), _int("stop", True),
    _int("page", True),  # 0: none
    _int("ocr", True),  # 0 or 1
    _text("body", 65535, passage=True),
    Field("length", "FLOAT", default=0.0),
)
CATALOG_FIELDS: tuple[Field, ...] = (
    Field("key", "VARCHAR", 1024, "", primary=True),
    _text("kind", 16),  # doc | text | term | meta
    _text("doc_id", 64),
    _int("num"),  # text: part number; term: sparse dimension
    _int("count"),  # doc: text parts; term: document frequency (live passages holding it)
    _text("text", 65535),
    Field("v", "FLOAT_VECTOR", 2, [1.0, 0.0], index=("FLAT", "L2")),  # Milvus wants a vector field in every collection
)
PASSAGE_TEXT = [f.name for f in PASSAGE_FIELDS if f.passage]  # what a Passage is made of


def pick(fields: tuple[Field, ...], *wanted: str) -> list[str]:
    """`wanted` as an output_fields list, each checked to be one of `fields`."""
    known = {f.name for f in fields}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise KeyError(f"no field {', '.join(unknown)} in the Milvus schema")
    return list(wanted)


def all_fields(fields: tuple[Field, ...]) -> list[str]:
    return [f.name for f in fields]


def row(fields: tuple[Field, ...], **values) -> dict:
    """A row of `fields`: the values given, every other field its default."""
    pick(fields, *values)
    return {f.name: values[f.name] if f.name in values else copy(f.default) for f in fields}


def catalog_row(key: str, kind: str, **values) -> dict:
    return row(CATALOG_FIELDS, key=key, kind=kind, **values)


def _schema(client, fields: tuple[Field, ...], dim: int):
    from pymilvus import DataType

    s = client.create_schema(auto_id=False)
    ip = client.prepare_index_params()
    for f in fields:
        kwargs = {"is_primary": True} if f.primary else {}
        if f.type == "VARCHAR":
            kwargs["max_length"] = f.size
        elif f.type == "FLOAT_VECTOR":
            kwargs["dim"] = f.size or dim
        s.add_field(f.name, getattr(DataType, f.type), **kwargs)
        if f.index:
            ip.add_index(f.name, index_type=f.index[0], metric_type=f.index[1])
    return s, ip


def create(client, settings: Settings, dim: int) -> None:
    """Both collections, empty, with their indexes (`dim`: the model's dimension)."""
    for name, fields in zip(names(settings), (PASSAGE_FIELDS, CATALOG_FIELDS)):
        schema, index_params = _schema(client, fields, dim)
        client.create_collection(name, schema=schema, index_params=index_params)


# ---------------------------------------------------------------------------------------------
# reaching the collections


def display_uri(uri: str) -> str:
    """The URI without user, password or token, for messages and `policyqa status`."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https", "tcp", "grpc") and parts.netloc:
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return uri


def is_local(uri: str) -> bool:
    return "://" not in uri


def connect(settings: Settings):
    """A MilvusClient for the settings' URI (a local path is a milvus-lite file, created on first use)."""
    require("pymilvus", "--backend milvus")
    uri = str(settings.milvus_uri)
    if is_local(uri):
        require("milvus_lite", "--backend milvus with a local file")
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    from pymilvus import MilvusClient

    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # its iterator warns on every milvus-lite query
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)  # milvus-lite's in-process server logs unimplemented calls
    try:
        return MilvusClient(uri=uri, token=settings.milvus_token or "")
    except Exception as e:
        raise MilvusMissing(f"cannot connect to Milvus at {display_uri(uri)}: {type(e).__name__}: {str(e)[:160]}; "
                            f"check --milvus-uri and POLICYQA_MILVUS_TOKEN") from None


def names(settings: Settings) -> tuple[str, str]:
    """The (passages, catalogue) collections' names."""
    return f"{settings.milvus_collection}_passages", f"{settings.milvus_collection}_catalog"


def quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def read_manifest(client, settings: Settings) -> dict | None:
    """The sync's state (model, chunker, generation, BM25 statistics), or None when there is no collection."""
    passages, catalog = names(settings)
    if not client.has_collection(catalog) or not client.has_collection(passages):
        return None
    for name in (passages, catalog):  # a reopened milvus-lite file (or a restarted server) holds them released
        if str(client.get_load_state(name).get("state", "")).split(".")[-1] != "Loaded":
            client.load_collection(name)
    rows = client.query(catalog, filter=f"key == {quote(MANIFEST_KEY)}", output_fields=pick(CATALOG_FIELDS, "text"))
    return json.loads(rows[0]["text"]) if rows else None


def iterate(client, collection: str, expr: str, fields: list[str], batch: int = 1000):
    """All rows matching `expr`, a batch at a time (a query's limit does not bound it)."""
    it = client.query_iterator(collection, filter=expr, output_fields=fields, batch_size=batch)
    try:
        while True:
            rows = it.next()
            if not rows:
                return
            yield from rows
    finally:
        it.close()


def term_rows(client, catalog: str, terms: list[str]) -> dict[str, tuple[int, int]]:
    """term → (dimension, document frequency) for the terms the catalogue knows."""
    out: dict[str, tuple[int, int]] = {}
    terms = list(dict.fromkeys(terms))
    for i in range(0, len(terms), 500):
        keys = [f"term:{t}" for t in terms[i : i + 500]]
        expr = "key in [" + ",".join(quote(k) for k in keys) + "]"
        for r in client.query(catalog, filter=expr, output_fields=pick(CATALOG_FIELDS, "key", "num", "count"),
                              limit=len(keys)):
            out[r["key"][5:]] = (int(r["num"]), int(r["count"]))
    return out
