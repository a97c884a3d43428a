"""The Milvus backend: a Milvus collection kept in step with the embedded index, and searched.

    schema.py   how to reach the collections (connect, names, display_uri) and their fields, defined once
    sync.py     the sync after each build (`sync.sync`): the embedded index's difference inserted or deleted
    search.py   the backend a Searcher queries (MilvusBackend) and its handle (MilvusHandle)

`sync` here is the module (its function is `sync.sync`), so `import ...milvus.sync` stays the module.
pymilvus is imported only when a collection is reached (the `cluster` extra).
"""

from __future__ import annotations

from policyqa.index.backends.milvus import schema, search, sync
from policyqa.index.backends.milvus.schema import CATALOG_FIELDS, PASSAGE_FIELDS, connect, display_uri, is_local, names
from policyqa.index.backends.milvus.search import MilvusBackend, MilvusHandle, expression
from policyqa.index.backends.milvus.sync import REWEIGHT_DRIFT, SyncReport

__all__ = [
    "CATALOG_FIELDS", "PASSAGE_FIELDS", "REWEIGHT_DRIFT", "MilvusBackend", "MilvusHandle", "SyncReport", "connect",
    "display_uri", "expression", "is_local", "names", "schema", "search", "sync",
]
