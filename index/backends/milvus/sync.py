"""The Milvus collections (schema.py) kept in step with the embedded index: the rows a Milvus backend serves.

Lexical search is BM25 computed by policyqa, not by Milvus: jieba with our dictionary and
synonyms tokenizes (encode/tokenizer.py), each passage's sparse vector holds tf / (tf + k1·(1 − b +
b·len/avgdl)) per term (index/bm25.py), and the question's sparse vector holds IDF × count. Milvus's
sparse inner product then equals the embedded index's BM25. IDF lives on the query side, computed
from the catalogue's document frequencies, so it is corpus-wide after any add or remove; the length
normalisation uses the average length recorded in the manifest, and all rows are re-weighted
when the live average drifts more than REWEIGHT_DRIFT from it.

The embedded build stays the record of what is indexed (content hashes, the embedding cache):
`sync` compares it with the collection by document id and inserts or deletes the difference,
deleting a removed document's rows by expression. Its steps: open (or rebuild) the collections,
remove, read the additions from the embedded segments, extend the vocabulary and the average
length, write, re-weight when the average moved, record the new state.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policyqa.config import Settings
from policyqa.index.backends.milvus.schema import (
    CATALOG_FIELDS,
    MANIFEST_KEY,
    PASSAGE_FIELDS,
    all_fields,
    catalog_row,
    connect,
    create,
    display_uri,
    iterate,
    names,
    pick,
    quote,
    read_manifest,
    row,
    term_rows,
)
from policyqa.index.bm25 import length_norm, term_weight
from policyqa.index.store import segment

__all__ = ["REWEIGHT_DRIFT", "SyncReport", "display_uri", "sync", "weights"]

REWEIGHT_DRIFT = 0.01  # relative drift of the average passage length that triggers re-weighting every row
TEXT_PART = 16_000  # characters of document text per catalogue row (VARCHAR holds 65,535 bytes)
BATCH = 512  # rows per insert
EMPTY_DIM = 0  # Milvus refuses an all-zero sparse vector: a passage without terms gets weight on dim 0, never queried
IDENTITY = ("model_fingerprint", "chunker", "dimension", "tokenizer", "lifecycle")  # a change rebuilds the collections


def pid_of(doc_id: str, i: int) -> int:
    """A passage's primary key: stable across builds, the same on every machine."""
    return int.from_bytes(hashlib.blake2b(f"{doc_id}:{i}".encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)


def _weight(tf, norm) -> float:
    return float(np.float32(term_weight(tf, norm)))


def weights(tf: Counter, dims: dict[str, int], length: float, avgdl: float) -> dict[int, float]:
    """A passage's sparse vector of BM25 document-side weights (the query side carries IDF)."""
    norm = length_norm(length, avgdl)
    out = {dims[t]: _weight(c, norm) for t, c in tf.items()}
    return out or {EMPTY_DIM: 1.0}


def reweighted(lexical: dict, length: float, old: float, new: float) -> dict[int, float]:
    """A row's sparse weights for a new average length. tf is recovered exactly: w = tf / (tf + n)
    gives tf = w·n / (1 − w), rounded to the integer it was."""
    n_old, n_new = length_norm(length, old), length_norm(length, new)
    return {int(dim): 1.0 if int(dim) == EMPTY_DIM else _weight(round(w * n_old / (1 - w)), n_new)
            for dim, w in lexical.items()}


@dataclass
class SyncReport:
    """What one sync changed in the collection: documents, then their passages, then re-weighted rows."""

    added: int = 0
    removed: int = 0
    notes: list[str] = field(default_factory=list)
    rows_added: int = 0
    rows_removed: int = 0
    reweighted: int = 0
    seconds: float = 0.0

    def summary(self, uri: str) -> str:
        line = (f"milvus {display_uri(uri)}: +{self.added} documents ({self.rows_added} passages), "
                f"-{self.removed} documents ({self.rows_removed} passages) in {self.seconds:.1f}s")
        if self.reweighted:
            line += f"; {self.reweighted} passages re-weighted (average length moved)"
        return "\n".join([line] + [f"  note: {n}" for n in self.notes])


@dataclass
class Additions:
    """What the added documents bring: passage rows (lexical weights still to come), their term counts,
    catalogue rows."""

    rows: list[dict] = field(default_factory=list)
    tf: list[Counter] = field(default_factory=list)
    catalog: list[dict] = field(default_factory=list)


def _doc_catalog(d) -> list[dict]:
    """A document's catalogue rows: its metadata, then its text in parts."""
    parts = [d.text[j : j + TEXT_PART] for j in range(0, len(d.text), TEXT_PART)] or [""]
    info = json.dumps({"source": d.source, "meta": d.meta.to_dict(), "passages": len(d.passages)}, ensure_ascii=False)
    return [catalog_row(f"doc:{d.doc_id}", "doc", doc_id=d.doc_id, count=len(parts), text=info)] + [
        catalog_row(f"text:{d.doc_id}:{j}", "text", doc_id=d.doc_id, num=j, text=t) for j, t in enumerate(parts)]


def _passage_row(d, i: int, p, vector: np.ndarray, tokens: list[str]) -> dict:
    meta = d.meta
    return row(
        PASSAGE_FIELDS, pid=pid_of(d.doc_id, i), vector=vector.tolist(), doc_id=d.doc_id, source=d.source[:1000],
        city=meta.city or "", prefecture=meta.prefecture or "", province=meta.province or "",
        years="," + ",".join(str(y) for y in (meta.years or [])) + ",", doc_type=meta.doc_type or "",
        section=json.dumps(p.section, ensure_ascii=False)[:4000], year=int(meta.year or 0), ordinal=int(p.ordinal),
        start=int(p.start), stop=int(p.end), body=p.body, page=int(p.page or 0), ocr=int(p.ocr),
        length=float(max(1, len(tokens))),
    )


def read_additions(idx, add: list[str], sources: dict[str, str]) -> tuple[Additions, int]:
    """The rows of the documents `add` names, read from the embedded index's segments; and how many documents."""
    m = idx.manifest
    by_seg: dict[str, list[int]] = {}
    entry_of = {d["doc_id"]: d for d in m["documents"].values()}
    for doc_id in add:
        e = entry_of[doc_id]
        by_seg.setdefault(e["segment"], []).append(int(e["doc_num"]))
    segments = {s.name: s for s in idx.segments}
    out, n_docs = Additions(), 0
    for name, nums in by_seg.items():
        seg = segments[name]
        docs, tokens, _ = segment.read_docs(seg.path, set(nums))
        rows = np.flatnonzero(np.isin(seg.doc_of, np.asarray(sorted(nums))))
        vecs = np.asarray(seg.vectors[rows], dtype=np.float32)
        r = 0
        for d in docs:
            d.source = sources[d.doc_id]
            for i, p in enumerate(d.passages):
                out.rows.append(_passage_row(d, i, p, vecs[r], tokens[r]))
                out.tf.append(Counter(tokens[r]))
                r += 1
            out.catalog += _doc_catalog(d)
        n_docs += len(docs)
    return out, n_docs


class _Sync:
    """One sync: the client, the collections' names, the state the manifest row records, the report."""

    def __init__(self, settings: Settings, progress: bool, report: SyncReport):
        self.client = connect(settings)
        self.passages, self.catalog = names(settings)
        self.settings, self.progress, self.report = settings, progress, report
        self.state: dict = {}

    def open(self, manifest: dict) -> None:
        """Read the state; rebuild the collections when there are none or the model, chunker, tokenizer or lifecycle reader changed."""
        state = read_manifest(self.client, self.settings)
        if state and any(state.get(k) != manifest.get(k) for k in IDENTITY):
            self.report.notes.append("model, chunker, tokenizer or lifecycle reader changed: the Milvus collections are rebuilt")
            state = None
        if state is None:
            for name in (self.passages, self.catalog):
                if self.client.has_collection(name):
                    self.client.drop_collection(name)
            create(self.client, self.settings, int(manifest["dimension"]))
            state = {"n": 0, "length_sum": 0.0, "avgdl": 0.0, "next_dim": 1, "generation": 0}
        self.state = state

    def present(self) -> dict[str, str]:
        """doc_id → source of the documents the collection holds."""
        rows = iterate(self.client, self.catalog, 'kind == "doc"', pick(CATALOG_FIELDS, "doc_id", "text"))
        return {r["doc_id"]: json.loads(r["text"])["source"] for r in rows}

    def remove(self, remove: list[str]) -> Counter:
        """Delete the documents' rows by expression; returns the document-frequency changes (by dimension)."""
        df_delta: Counter = Counter()
        for i in range(0, len(remove), 100):
            ids = remove[i : i + 100]
            expr = "doc_id in [" + ",".join(quote(x) for x in ids) + "]"
            for r in iterate(self.client, self.passages, expr, pick(PASSAGE_FIELDS, "lexical", "length")):
                self.report.rows_removed += 1
                self.state["n"] -= 1
                self.state["length_sum"] -= float(r["length"])
                for dim in r["lexical"]:
                    if int(dim) != EMPTY_DIM:
                        df_delta[int(dim)] -= 1
            self.client.delete(self.passages, filter=expr)
            self.client.delete(self.catalog, filter=f'kind in ["doc", "text"] and {expr}')
            self.report.removed += len(ids)
        return df_delta

    def vocabulary(self, new: Additions, df_delta: Counter) -> dict[str, int]:
        """term → sparse dimension for the new rows' terms (new terms get the next ones); df_delta counts them."""
        all_terms = {t for tf in new.tf for t in tf}
        dims = {t: d for t, (d, _) in term_rows(self.client, self.catalog, sorted(all_terms)).items()}
        for t in sorted(all_terms - set(dims)):
            dims[t] = self.state["next_dim"]
            self.state["next_dim"] += 1
        for tf in new.tf:
            for t in tf:
                df_delta[dims[t]] += 1
        return dims

    def average(self, new: Additions) -> float | None:
        """Count the new rows into the average length; the old average when every row must be re-weighted."""
        state = self.state
        state["n"] += len(new.rows)
        state["length_sum"] += sum(r["length"] for r in new.rows)
        live_avg = state["length_sum"] / state["n"] if state["n"] else 1.0
        old = state["avgdl"]
        if old and abs(live_avg / old - 1) <= REWEIGHT_DRIFT:
            return None
        state["avgdl"] = live_avg
        return old

    def write(self, new: Additions, dims: dict[str, int], df_delta: Counter) -> None:
        """The new passages with their weights, the catalogue rows, the document frequencies."""
        for r, tf in zip(new.rows, new.tf):
            r["lexical"] = weights(tf, dims, r["length"], self.state["avgdl"])
        bar = tqdm(total=len(new.rows), desc="milvus insert", unit="passage", disable=not self.progress or not new.rows)
        for i in range(0, len(new.rows), BATCH):
            self.client.insert(self.passages, new.rows[i : i + BATCH])
            bar.update(len(new.rows[i : i + BATCH]))
        bar.close()
        for i in range(0, len(new.catalog), BATCH):
            self.client.insert(self.catalog, new.catalog[i : i + BATCH])
        self.update_terms(dims, df_delta)

    def update_terms(self, dims: dict[str, int], delta: Counter) -> None:
        """Apply document-frequency changes; terms are keyed by text, found by dimension."""
        if not delta:
            return
        term_of = {d: t for t, d in dims.items()}
        missing = [d for d in delta if d not in term_of]
        for i in range(0, len(missing), 1000):
            chunk = missing[i : i + 1000]
            expr = 'kind == "term" and num in [' + ",".join(map(str, chunk)) + "]"
            for r in self.client.query(self.catalog, filter=expr, output_fields=pick(CATALOG_FIELDS, "key", "num"),
                                       limit=len(chunk)):
                term_of[int(r["num"])] = r["key"][5:]
        current = term_rows(self.client, self.catalog, [term_of[d] for d in delta])
        rows = [catalog_row(f"term:{term_of[d]}", "term", num=d, count=max(0, current.get(term_of[d], (d, 0))[1] + change))
                for d, change in delta.items()]
        for i in range(0, len(rows), BATCH):
            self.client.upsert(self.catalog, rows[i : i + BATCH])

    def reweight(self, old: float, skip: set[int]) -> int:
        """Recompute every older row's sparse weights for the new average length; returns how many."""
        done = 0
        batch: list[dict] = []
        bar = tqdm(desc="milvus re-weight", unit="passage", disable=not self.progress)
        for r in iterate(self.client, self.passages, "pid >= 0", all_fields(PASSAGE_FIELDS)):
            if r["pid"] in skip:
                continue
            r["lexical"] = reweighted(r["lexical"], r["length"], old, self.state["avgdl"])
            batch.append(dict(r))
            if len(batch) >= BATCH:
                self.client.upsert(self.passages, batch)
                done += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            self.client.upsert(self.passages, batch)
            done += len(batch)
        bar.close()
        return done

    def record(self, m: dict, documents: int) -> None:
        """The new state in the manifest row; the bumped generation tells servers to reopen."""
        self.state.update(model=m["model"], model_fingerprint=m["model_fingerprint"], encoder=m.get("encoder", "fp32"),
                          chunker=m["chunker"], tokenizer=m.get("tokenizer"), lifecycle=m.get("lifecycle"), dimension=m["dimension"],
                          documents=documents, passages=self.state["n"], generation=self.state["generation"] + 1,
                          built_at=m["built_at"])
        self.client.upsert(self.catalog, [catalog_row(MANIFEST_KEY, "meta", text=json.dumps(self.state, ensure_ascii=False))])


def sync(settings: Settings, progress: bool = True) -> SyncReport:
    """Make the Milvus collection hold exactly the live documents of the embedded index."""
    from policyqa.index.store.loaded import load

    t0 = time.perf_counter()
    report = SyncReport()
    idx = load(Path(settings.index_dir))
    s = _Sync(settings, progress, report)
    try:
        s.open(idx.manifest)
        present = s.present()
        target = {d.doc_id: d.source for d in idx.docs.values()}
        remove = [i for i, src in present.items() if target.get(i) != src]
        add = [i for i, src in target.items() if present.get(i) != src]
        if add or remove:  # else already in step: the generation stays, so servers keep what they hold
            df_delta = s.remove(remove)
            new, report.added = read_additions(idx, add, target)
            report.rows_added = len(new.rows)
            dims = s.vocabulary(new, df_delta)
            old_avgdl = s.average(new)
            s.write(new, dims, df_delta)
            if old_avgdl and report.rows_added < s.state["n"]:
                report.reweighted = s.reweight(old_avgdl, {r["pid"] for r in new.rows})
            s.record(idx.manifest, len(target))
    finally:
        s.client.close()
    report.seconds = time.perf_counter() - t0
    return report
