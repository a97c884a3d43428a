"""Where a question's candidates come from: one interface (base.py), two backends, one factory.

    embedded.py   the index on this machine (index/store/), the default
    milvus/       a Milvus collection: schema and sync (written after each build), search

`open_backend` is the only place that chooses between them.
"""

from __future__ import annotations

from policyqa.config import Settings
from policyqa.encode.base import Encoder
from policyqa.errors import UsageError, require
from policyqa.index.backends.base import BACKENDS, Backend, Doc, Handle, Lexical, Scope

__all__ = ["BACKENDS", "Backend", "Doc", "Handle", "Lexical", "Scope", "after_build", "check_installed", "describe", "open_backend"]


def open_backend(settings: Settings, model: str | None = None, encoder: Encoder | None = None) -> Handle:
    """The backend `settings.backend` names, checked against `model` (None: the one that built it);
    `encoder`: one to encode questions with instead of the index's model (a benchmark's stand-in)."""
    if settings.backend == "milvus":
        from policyqa.index.backends.milvus.search import MilvusHandle

        return MilvusHandle(settings, model, encoder)
    from policyqa.index.backends.embedded import EmbeddedHandle

    return EmbeddedHandle(settings, model, encoder)


def after_build(settings: Settings, progress: bool) -> str | None:
    """What a backend does once the embedded index has published a build: Milvus copies the change
    into its collection (the embedded index stays the source of truth); returns a line for the report."""
    if settings.backend != "milvus":
        return None
    from policyqa.index.backends.milvus.sync import sync

    return sync(settings, progress).summary(str(settings.milvus_uri))


def describe(settings: Settings) -> list[str]:
    """Lines `policyqa status` prints about a backend beside the embedded index (none for the embedded one,
    whose status is the index's own)."""
    if settings.backend != "milvus":
        return []
    lines = open_backend(settings).current().describe()
    return [*lines, f"staging:    the embedded index in {settings.index_dir} (what the collection is synced from):"]


def check_installed(settings: Settings) -> None:
    """Fail in one line, before any work, when the backend is unknown or what it (or --ray) needs is missing."""
    if settings.backend not in BACKENDS:
        raise UsageError(f"unknown backend {settings.backend!r} (from $POLICYQA_BACKEND); use one of: {', '.join(BACKENDS)}")
    if settings.backend == "milvus":
        require("pymilvus", "--backend milvus")
        if "://" not in str(settings.milvus_uri):
            require("milvus_lite", "--backend milvus with a local file")
    if settings.ray_address is not None:
        require("ray", "--ray")
