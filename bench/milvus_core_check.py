"""Second check: the dense path on Milvus's C++ core (the `milvus` PyPI package: an embedded Milvus 2.3
standalone server). Milvus 2.3 has no sparse vectors, so only dense search (FLAT, IP), filter
expressions and delete by expression are checked, against an exact numpy top-10 over a built
index's first segment.

Run it in a throwaway venv, not the project's (it needs an older pymilvus):

    python3 -m venv /tmp/mv && /tmp/mv/bin/pip install milvus==2.3.5 pymilvus==2.3.7 numpy 'setuptools<70' \\
        'marshmallow<3.20' 'environs<10'
    /tmp/mv/bin/python bench/milvus_core_check.py var/index
"""

from __future__ import annotations

import glob
import json
import sqlite3
import sys
import time

import numpy as np


def main(index: str) -> int:
    from milvus import default_server
    from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, connections, utility

    t0 = time.time()
    default_server.set_base_dir("/tmp/policyqa-milvus23-data")
    try:
        default_server.start()
    except Exception as e:  # report what the embedded server said, in one line
        print("START FAILED:", type(e).__name__, str(e)[:500])
        return 1
    print("started in", round(time.time() - t0, 1), "s, port", default_server.listen_port)
    try:
        connections.connect(host="127.0.0.1", port=default_server.listen_port)
        seg = sorted(glob.glob(f"{index}/seg-*"))[0]
        vectors, doc_of = np.load(seg + "/vectors.npy"), np.load(seg + "/doc_of.npy")
        con = sqlite3.connect(seg + "/store.sqlite")
        city = {n: json.loads(m)["city"] for n, m in con.execute("SELECT doc_num, meta FROM documents")}
        cities = [city[int(d)] for d in doc_of]
        fields = [FieldSchema("pid", DataType.INT64, is_primary=True),
                  FieldSchema("vector", DataType.FLOAT_VECTOR, dim=vectors.shape[1]),
                  FieldSchema("city", DataType.VARCHAR, max_length=64)]
        if utility.has_collection("p"):
            utility.drop_collection("p")
        c = Collection("p", CollectionSchema(fields))
        c.insert([list(range(len(vectors))), vectors.tolist(), cities])
        c.flush()
        c.create_index("vector", {"index_type": "FLAT", "metric_type": "IP", "params": {}})
        c.load()
        rng = np.random.default_rng(0)
        ok, n = 0, 20
        wanted = ["荆州市", "咸宁市"]
        for _ in range(n):
            q = vectors[rng.integers(len(vectors))] + 0.05 * rng.standard_normal(vectors.shape[1]).astype(np.float32)
            q /= np.linalg.norm(q)
            for expr in (None, f"city in {json.dumps(wanted, ensure_ascii=False)}"):
                mask = np.ones(len(vectors), bool) if expr is None else np.isin(cities, wanted)
                s = np.where(mask, vectors @ q, -np.inf)
                ref = [int(i) for i in np.argsort(-s)[:10]]
                got = [h.id for h in c.search([q.tolist()], "vector", {"metric_type": "IP"}, limit=10, expr=expr)[0]]
                ok += got == ref
                if got != ref:
                    print("differs", expr, got, ref)
        print(f"top-10 identical to exact numpy in {ok}/{2 * n} searches (with and without a filter expression)")
        c.delete("pid in [0,1,2]")
        c.flush()
        hits = [h.id for h in c.search([vectors[0].tolist()], "vector", {"metric_type": "IP"}, limit=3)[0]]
        print("after deleting pids 0-2, the nearest to pid 0's own vector:", hits)
        return 0 if ok == 2 * n and not {0, 1, 2} & set(hits) else 1
    finally:
        default_server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "var/index"))
