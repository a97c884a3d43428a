"""The index on disk: a commit names immutable segments and a catalogue; nothing is edited in place.

    layout.py    where each file lives, and how a commit is published atomically (CURRENT swap)
    schema.py    the commit's records, typed: Manifest, SegmentEntry, Catalog
    segment.py   one segment: vectors, postings, metadata, texts; written whole, combined by merges
    rowfile.py   rows of a .npy read with pread (postings and vectors, never mapped whole)
    loaded.py    a commit opened for questions: `load`, `LoadedIndex`
    cache.py     the embedding cache shared by builds: `EmbeddingCache`

Public: `layout.publish`, `layout.require_current`, `segment.write`, `segment.combine`, `loaded.load`,
`cache.open_cache`. This room imports nothing from index/backends.
"""
