"""Passages in, a searchable index out: FAISS vectors, jieba BM25, SQLite, a manifest."""
