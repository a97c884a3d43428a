"""A Milvus collection kept in step with the embedded index: the rows a Milvus backend serves.

Two collections per name: `<name>_passages` (one row per passage: dense vector, a sparse vector
of BM25 document-side weights, and the scalar fields filters run on) and `<name>_catalog`
(documents with their metadata and text, the vocabulary with each term's document frequency,
and one manifest row). `pymilvus` talks the same API to a milvus-lite file, a standalone server
and a cluster, so only the URI changes.

Lexical search is BM25 computed by policyqa, not by Milvus: jieba with our dictionary and
synonyms tokenizes (index/lexical.py), each passage's sparse vector holds tf / (tf + k1·(1 − b +
b·len/avgdl)) per term, and the question's sparse vector holds IDF × count. Milvus's sparse inner
product then equals the embedded index's BM25. IDF lives on the query side, computed from the
catalogue's document frequencies, so it is corpus-wide after any add or remove; the length
normalisation uses the average length recorded in the manifest, and all rows are re-weighted
when the live average drifts more than REWEIGHT_DRIFT from it.

The embedded build stays the record of what is indexed (content hashes, the embedding cache):
`sync` compares it with the collection by document id and inserts or deletes the difference,
deleting a removed document's rows by expression.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from tqdm import tqdm

from policyqa.config import Settings
from policyqa.errors import MilvusMissing, require
from policyqa.index.bm25 import length_norm, term_weight
from policyqa.index.store import segment

REWEIGHT_DRIFT = 0.01  # relative drift of the average passage length that triggers re-weighting every row
TEXT_PART = 16_000  # characters of document text per catalogue row (VARCHAR holds 65,535 bytes)
BATCH = 512  # rows per insert
EMPTY_DIM = 0  # Milvus refuses an all-zero sparse vector: a passage without terms gets weight on dim 0, never queried
MANIFEST_KEY = "manifest"



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
    return f"{settings.milvus_collection}_passages", f"{settings.milvus_collection}_catalog"


def pid_of(doc_id: str, i: int) -> int:
    """A passage's primary key: stable across builds, the same on every machine."""
    return int.from_bytes(hashlib.blake2b(f"{doc_id}:{i}".encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)


def _create(client, settings: Settings, dim: int) -> None:
    from pymilvus import DataType

    passages, catalog = names(settings)
    s = client.create_schema(auto_id=False)
    s.add_field("pid", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("lexical", DataType.SPARSE_FLOAT_VECTOR)
    for name, n in (("doc_id", 64), ("source", 1024), ("city", 128), ("prefecture", 128), ("province", 128),
                    ("years", 512), ("doc_type", 64), ("section", 4096)):
        s.add_field(name, DataType.VARCHAR, max_length=n)
    for name in ("year", "ordinal", "start", "stop", "page", "ocr"):  # page 0: none; ocr 0/1
        s.add_field(name, DataType.INT64)
    s.add_field("body", DataType.VARCHAR, max_length=65535)
    s.add_field("length", DataType.FLOAT)
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="IP")  # exact, as the embedded index; HNSW for big servers
    ip.add_index("lexical", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(passages, schema=s, index_params=ip)

    c = client.create_schema(auto_id=False)
    c.add_field("key", DataType.VARCHAR, max_length=1024, is_primary=True)
    c.add_field("kind", DataType.VARCHAR, max_length=16)  # doc | text | term | meta
    c.add_field("doc_id", DataType.VARCHAR, max_length=64)
    c.add_field("num", DataType.INT64)  # text: part number; term: sparse dimension
    c.add_field("count", DataType.INT64)  # term: document frequency (live passages holding it)
    c.add_field("text", DataType.VARCHAR, max_length=65535)
    c.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
    cp = client.prepare_index_params()
    cp.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection(catalog, schema=c, index_params=cp)


def _crow(key: str, kind: str, doc_id: str = "", num: int = 0, count: int = 0, text: str = "") -> dict:
    return {"key": key, "kind": kind, "doc_id": doc_id, "num": num, "count": count, "text": text, "v": [1.0, 0.0]}


def quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def read_manifest(client, settings: Settings) -> dict | None:
    passages, catalog = names(settings)
    if not client.has_collection(catalog) or not client.has_collection(passages):
        return None
    for name in (passages, catalog):  # a reopened milvus-lite file (or a restarted server) holds them released
        if str(client.get_load_state(name).get("state", "")).split(".")[-1] != "Loaded":
            client.load_collection(name)
    rows = client.query(catalog, filter=f'key == "{MANIFEST_KEY}"', output_fields=["text"])
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
        for r in client.query(catalog, filter=expr, output_fields=["key", "num", "count"], limit=len(keys)):
            out[r["key"][5:]] = (int(r["num"]), int(r["count"]))
    return out


def weights(tf: Counter, dims: dict[str, int], length: float, avgdl: float) -> dict[int, float]:
    """A passage's sparse vector of BM25 document-side weights (the query side carries IDF)."""
    norm = length_norm(length, avgdl)
    out = {dims[t]: float(np.float32(term_weight(c, norm))) for t, c in tf.items()}
    return out or {EMPTY_DIM: 1.0}


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    rows_added: int = 0
    rows_removed: int = 0
    reweighted: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self, uri: str) -> str:
        line = (f"milvus {display_uri(uri)}: +{self.added} documents ({self.rows_added} passages), "
                f"-{self.removed} documents ({self.rows_removed} passages) in {self.seconds:.1f}s")
        if self.reweighted:
            line += f"; {self.reweighted} passages re-weighted (average length moved)"
        return "\n".join([line] + [f"  note: {n}" for n in self.notes])


def sync(settings: Settings, progress: bool = True) -> SyncReport:
    """Make the Milvus collection hold exactly the live documents of the embedded index."""
    from policyqa.index.store.loaded import load

    t0 = time.perf_counter()
    report = SyncReport()
    idx = load(Path(settings.index_dir))
    m = idx.manifest
    client = connect(settings)
    passages, catalog = names(settings)
    state = read_manifest(client, settings)
    if state and (state.get("model_fingerprint") != m["model_fingerprint"] or state.get("chunker") != m["chunker"]
                  or state.get("dimension") != m["dimension"] or state.get("tokenizer") != m.get("tokenizer")):
        report.notes.append("model, chunker or tokenizer changed: the Milvus collections are rebuilt")
        client.drop_collection(passages)
        client.drop_collection(catalog)
        state = None
    if state is None:
        for name in (passages, catalog):
            if client.has_collection(name):
                client.drop_collection(name)
        _create(client, settings, int(m["dimension"]))
        state = {"n": 0, "length_sum": 0.0, "avgdl": 0.0, "next_dim": 1, "generation": 0}
    present = {r["doc_id"]: json.loads(r["text"])["source"] for r in iterate(client, catalog, 'kind == "doc"', ["doc_id", "text"])}
    target = {d.doc_id: d for d in idx.docs.values()}
    remove = [i for i, src in present.items() if i not in target or target[i].source != src]
    add = [i for i, d in target.items() if i not in present or present[i] != d.source]
    if not add and not remove:
        client.close()
        report.seconds = time.perf_counter() - t0
        return report  # already in step: the generation stays, so servers keep what they hold

    # 1. removals: their terms' document frequencies go down, their rows are deleted by expression
    df_delta: Counter = Counter()
    for i in range(0, len(remove), 100):
        ids = remove[i : i + 100]
        expr = "doc_id in [" + ",".join(quote(x) for x in ids) + "]"
        for r in iterate(client, passages, expr, ["lexical", "length"]):
            report.rows_removed += 1
            state["n"] -= 1
            state["length_sum"] -= float(r["length"])
            for dim in r["lexical"]:
                if int(dim) != EMPTY_DIM:
                    df_delta[int(dim)] -= 1
        client.delete(passages, filter=expr)
        client.delete(catalog, filter=f'kind in ["doc", "text"] and {expr}')
        report.removed += len(ids)

    # 2. additions: read passages, tokens and vectors from the embedded segments
    seg_path = {s.name: s.path for s in idx.segments}
    seg_vectors = {s.name: s.vectors for s in idx.segments}
    seg_doc_of = {s.name: s.doc_of for s in idx.segments}
    by_seg: dict[str, list[int]] = {}
    entry_of = {d["doc_id"]: d for d in m["documents"].values()}
    for doc_id in add:
        e = entry_of[doc_id]
        by_seg.setdefault(e["segment"], []).append(int(e["doc_num"]))
    new_rows: list[dict] = []  # without lexical weights until the average length is known
    new_tf: list[Counter] = []
    cat_rows: list[dict] = []
    for name, nums in by_seg.items():
        docs, tokens, _ = segment.read_docs(seg_path[name], set(nums))
        rows = np.flatnonzero(np.isin(seg_doc_of[name], np.asarray(sorted(nums))))
        vecs = np.asarray(seg_vectors[name][rows], dtype=np.float32)
        r = 0
        for d in docs:
            d.source = target[d.doc_id].source
            meta = d.meta
            for i, p in enumerate(d.passages):
                toks = tokens[r]
                new_rows.append({
                    "pid": pid_of(d.doc_id, i), "vector": vecs[r].tolist(), "doc_id": d.doc_id, "source": d.source[:1000],
                    "city": meta.city or "", "prefecture": meta.prefecture or "", "province": meta.province or "",
                    "years": "," + ",".join(str(y) for y in (meta.years or [])) + ",", "doc_type": meta.doc_type or "",
                    "section": json.dumps(p.section, ensure_ascii=False)[:4000], "year": int(meta.year or 0),
                    "ordinal": int(p.ordinal), "start": int(p.start), "stop": int(p.end), "body": p.body,
                    "page": int(p.page or 0), "ocr": int(p.ocr), "length": float(max(1, len(toks))),
                })
                new_tf.append(Counter(toks))
                r += 1
            parts = [d.text[j : j + TEXT_PART] for j in range(0, len(d.text), TEXT_PART)] or [""]
            cat_rows.append(_crow(f"doc:{d.doc_id}", "doc", d.doc_id, 0, len(parts), json.dumps(
                {"source": d.source, "meta": meta.to_dict(), "passages": len(d.passages)}, ensure_ascii=False)))
            cat_rows += [_crow(f"text:{d.doc_id}:{j}", "text", d.doc_id, j, 0, t) for j, t in enumerate(parts)]
        report.added += len(docs)
    report.rows_added = len(new_rows)

    # 3. the vocabulary: new terms get the next dimensions; document frequencies move
    all_terms = {t for tf in new_tf for t in tf}
    known = term_rows(client, catalog, sorted(all_terms))
    dims = {t: d for t, (d, _) in known.items()}
    for t in sorted(all_terms - set(dims)):
        dims[t] = state["next_dim"]
        state["next_dim"] += 1
    for tf in new_tf:
        for t in tf:
            df_delta[dims[t]] += 1
    state["n"] += len(new_rows)
    state["length_sum"] += sum(r["length"] for r in new_rows)
    live_avg = state["length_sum"] / state["n"] if state["n"] else 1.0
    reweight = not state["avgdl"] or abs(live_avg / state["avgdl"] - 1) > REWEIGHT_DRIFT
    old_avgdl = state["avgdl"]
    if reweight:
        state["avgdl"] = live_avg

    # 4. write: passages, catalogue, frequencies; then re-weight the old rows if the average moved
    for row, tf in zip(new_rows, new_tf):
        row["lexical"] = weights(tf, dims, row["length"], state["avgdl"])
    bar = tqdm(total=len(new_rows), desc="milvus insert", unit="passage", disable=not progress or not new_rows)
    for i in range(0, len(new_rows), BATCH):
        client.insert(passages, new_rows[i : i + BATCH])
        bar.update(len(new_rows[i : i + BATCH]))
    bar.close()
    for i in range(0, len(cat_rows), BATCH):
        client.insert(catalog, cat_rows[i : i + BATCH])
    _update_terms(client, catalog, dims, df_delta)
    if reweight and old_avgdl and report.rows_added < state["n"]:
        report.reweighted = _reweight(client, passages, old_avgdl, state["avgdl"], {r["pid"] for r in new_rows}, progress)
    state.update(model=m["model"], model_fingerprint=m["model_fingerprint"], encoder=m.get("encoder", "fp32"),
                 chunker=m["chunker"], tokenizer=m.get("tokenizer"), dimension=m["dimension"], documents=len(target), passages=state["n"],
                 generation=state["generation"] + 1, built_at=m["built_at"])
    client.upsert(catalog, [_crow(MANIFEST_KEY, "meta", text=json.dumps(state, ensure_ascii=False))])
    client.close()
    report.seconds = time.perf_counter() - t0
    return report


def _update_terms(client, catalog: str, dims: dict[str, int], delta: Counter) -> None:
    """Apply document-frequency changes; terms are keyed by text, found by dimension."""
    if not delta:
        return
    term_of = {d: t for t, d in dims.items()}
    missing = [d for d in delta if d not in term_of]
    for i in range(0, len(missing), 1000):
        chunk = missing[i : i + 1000]
        expr = 'kind == "term" and num in [' + ",".join(map(str, chunk)) + "]"
        for r in client.query(catalog, filter=expr, output_fields=["key", "num"], limit=len(chunk)):
            term_of[int(r["num"])] = r["key"][5:]
    current = term_rows(client, catalog, [term_of[d] for d in delta])
    rows = []
    for d, change in delta.items():
        t = term_of[d]
        rows.append(_crow(f"term:{t}", "term", "", d, max(0, current.get(t, (d, 0))[1] + change)))
    for i in range(0, len(rows), BATCH):
        client.upsert(catalog, rows[i : i + BATCH])


def _reweight(client, passages: str, old: float, new: float, skip: set[int], progress: bool) -> int:
    """Recompute every older row's sparse weights for the new average length (tf is recovered exactly:
    w = tf / (tf + n) gives tf = w·n / (1 − w), rounded to the integer it was)."""
    fields = ["pid", "vector", "lexical", "doc_id", "source", "city", "prefecture", "province", "years", "doc_type",
              "section", "year", "ordinal", "start", "stop", "page", "ocr", "body", "length"]
    done = 0
    batch: list[dict] = []
    bar = tqdm(desc="milvus re-weight", unit="passage", disable=not progress)
    for r in iterate(client, passages, "pid >= 0", fields):
        if r["pid"] in skip:
            continue
        n_old, n_new = length_norm(r["length"], old), length_norm(r["length"], new)
        lex = {}
        for dim, w in r["lexical"].items():
            if int(dim) == EMPTY_DIM:
                lex[int(dim)] = 1.0
                continue
            tf = round(w * n_old / (1 - w))
            lex[int(dim)] = float(np.float32(term_weight(tf, n_new)))
        r["lexical"] = lex
        batch.append(dict(r))
        if len(batch) >= BATCH:
            client.upsert(passages, batch)
            done += len(batch)
            bar.update(len(batch))
            batch = []
    if batch:
        client.upsert(passages, batch)
        done += len(batch)
    bar.close()
    return done
