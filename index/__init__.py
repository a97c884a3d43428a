"""The index stage: documents in, a searchable index out, kept in line with the folder.

Two rooms and what works on them (docs/architecture.md):

    store/       the index on disk: commits and the catalogue (layout.py, schema.py), immutable
                 segments (segment.py), postings read by row (rowfile.py), a commit opened for
                 questions (loaded.py), the embedding cache (cache.py)
    backends/    where a question's candidates come from: the interface (base.py), the embedded
                 index (embedded.py), Milvus (milvus/), chosen by `open_backend`
    bm25.py      the BM25 formula every backend scores with
    usable.py    whether an index can answer as it is, and the one command that fixes it
    build.py     bring the index in line with the folder (reading.py, embedding.py, merging.py: its steps;
                 progress.py: the running build's embedding pace, for status)
    update.py    add and remove named files; status.py, check.py: what is indexed, what is damaged

The store never imports the backends. Names below are imported on first use, so opening an index
for a question loads only what a question needs.
"""

from __future__ import annotations

from policyqa.exports import lazy

__getattr__, __all__ = lazy(__name__, {
    "policyqa.index.build": "BuildReport",
    "policyqa.index.update": "add_files remove_sources",
    "policyqa.index.status": "gather format_status",
    "policyqa.index.backends": "open_backend Scope",
    "policyqa.index.usable": "rebuild_command",
})
