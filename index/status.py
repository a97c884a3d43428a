"""What the index holds, and what in the documents folder it does not hold yet.

Gathered once into an `IndexStatus`, then shown three ways from that one record: as text by
`policyqa status` (`format_status`), as the web UI's 索引状态 panel (`ui/render.status_html`)
and as JSON by `GET /api/status`; the three cannot disagree about what they count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from policyqa.config import Settings
from policyqa.corpus.reader import scan
from policyqa.index import layout


@dataclass
class IndexStatus:
    index_dir: str
    corpus_dir: str
    built: bool  # False: no index yet; the fields below but the folders are then empty
    generation: str | None = None
    documents: int = 0
    passages: int = 0
    model: str | None = None
    model_fingerprint: str | None = None
    dimension: int | None = None
    index_type: str | None = None
    chunker: str | None = None
    chunker_current: str | None = None  # the chunker this version uses; differs: run policyqa build
    built_at: str | None = None
    size_bytes: int = 0
    folder_error: str | None = None  # the documents folder could not be scanned
    files: int | None = None  # supported files in the folder
    pending: list[str] = field(default_factory=list)  # in the folder, not indexed yet
    gone: list[str] = field(default_factory=list)  # indexed, no longer in the folder
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason), files still in the folder
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # same content, indexed once

    def to_json(self) -> dict:
        return asdict(self)


def gather(settings: Settings) -> IndexStatus:
    """Read the manifest and scan the documents folder."""
    st = IndexStatus(index_dir=str(settings.index_dir), corpus_dir=str(settings.corpus_dir), built=False,
                     chunker_current=settings.chunking.chunker_id)
    gen = layout.current(settings.index_dir)
    if gen is None:
        return st
    m = gen.manifest()
    st.built, st.generation = True, gen.path.name
    st.documents, st.passages = len(m["documents"]), m["passages"]
    st.model, st.model_fingerprint, st.dimension = m["model"], m["model_fingerprint"], m["dimension"]
    st.index_type, st.chunker, st.built_at = m["index_type"], m["chunker"], m["built_at"]
    st.size_bytes = layout.size_on_disk(settings.index_dir)
    st.duplicates = [(a, b) for a, b in m.get("duplicates", [])]
    try:
        entries, unsupported = scan(settings.corpus_dir)
    except FileNotFoundError as e:
        st.folder_error = str(e)
        return st
    indexed = {d["doc_id"] for d in m["documents"].values()}
    recorded = {s for s, _ in m.get("skipped", [])}
    present = {e.source for e in entries}
    st.files = len(entries)
    st.pending = [e.source for e in entries if e.doc_id not in indexed and e.source not in recorded]
    st.gone = [s for s in m["documents"] if s not in present]
    # skips recorded at build time, for files still in the folder, plus unsupported files found now
    st.skipped = [(s, r) for s, r in m.get("skipped", []) if s in present]
    st.skipped += [(s.source, s.reason) for s in unsupported if s.source not in {x for x, _ in st.skipped}]
    return st


def format_status(st: IndexStatus) -> str:
    """The text `policyqa status` prints (and the UI's 详细状态 shows)."""
    if not st.built:
        return f"no index in {st.index_dir}; build it with: policyqa build --index {st.index_dir}"
    lines = [
        f"index:      {st.index_dir} ({st.generation})",
        f"documents:  {st.documents}",
        f"passages:   {st.passages}",
        f"model:      {st.model} (weights {st.model_fingerprint}, {st.dimension}-d, {st.index_type})",
        f"chunker:    {st.chunker}" + ("" if st.chunker == st.chunker_current else
                                       f" (this version uses {st.chunker_current}: run policyqa build)"),
        f"built:      {st.built_at}",
        f"size:       {st.size_bytes / 1e6:.1f} MB on disk",
    ]
    if st.folder_error is not None:
        return "\n".join(lines + [f"folder:     {st.folder_error}"])
    lines.append(f"folder:     {st.corpus_dir}: {st.files} files")
    lines.append(f"not indexed yet: {len(st.pending)}" + ("" if not st.pending else " (run policyqa build)"))
    lines += [f"  + {s}" for s in st.pending]
    if st.gone:
        lines.append(f"indexed but no longer in the folder: {len(st.gone)} (run policyqa build)")
        lines += [f"  - {s}" for s in st.gone]
    if st.skipped:
        lines.append(f"skipped: {len(st.skipped)}")
        lines += [f"  ! {s}: {r}" for s, r in st.skipped]
    for a, b in st.duplicates:
        lines.append(f"duplicate: {a} = {b} (indexed once)")
    return "\n".join(lines)


def status(settings: Settings) -> str:
    return format_status(gather(settings))
