"""What the index holds, and what in the documents folder it does not hold yet.

Gathered once into an `IndexStatus`, then shown three ways from that one record: as text by
`policyqa status` (`format_status`), as the web UI's 索引状态 panel (`ui/render.status_html`)
and as JSON by `GET /api/status`; the three cannot disagree about what they count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from policyqa.config import Settings
from policyqa.corpus.paths import shown
from policyqa.corpus.reader import scan
from policyqa.encode import tokenizer
from policyqa.errors import IndexMismatch, IndexMissing
from policyqa.index import progress
from policyqa.index.reading import known_files
from policyqa.index.store import layout, segment
from policyqa.index.store.schema import Manifest
from policyqa.index.usable import rebuild_command

# what each of a segment's files is, and whether a serving process holds it in memory
PARTS = {
    "ANN index (in memory)": ("ann.faiss",),
    "vectors (mapped if exact, else read per question)": ("vectors.npy",),
    "vocabulary, row arrays, document columns (in memory)": ("post_ptr.npy", "term_keys.npy", "lengths.npy",
                                                              "doc_of.npy", "docs.npz"),
    "document metadata (mapped, parsed per document)": ("docs.bin",),
    "postings (read per question)": ("post_row.npy", "post_tf.npy"),
    "texts (on disk)": ("store.sqlite", "terms.json"),
}


@dataclass
class SegmentStatus:
    name: str
    rows: int
    live: int
    vectors: str  # flat | hnsw | ivf-sq8
    parts: dict[str, int]  # PARTS key → bytes
    embedded: bool = True  # False: written by a build that has not embedded it yet (searched by BM25 only)

    @property
    def tombstoned(self) -> int:
        return self.rows - self.live


@dataclass
class IndexStatus:
    index_dir: str
    corpus_dir: str
    built: bool  # False: no index yet (or one this version cannot read: see `problem`)
    problem: str | None = None  # an index of another format, or a damaged commit: the line that says so
    generation: str | None = None  # the live commit file
    documents: int = 0
    passages: int = 0
    model: str | None = None
    model_fingerprint: str | None = None
    encoder: str | None = None
    dimension: int | None = None
    index_type: str | None = None
    chunker: str | None = None
    chunker_current: str | None = None  # the chunker this version uses; differs: run policyqa build
    tokenizer: str | None = None
    tokenizer_current: str | None = None  # the tokenizer and dictionaries now; differs: run policyqa build
    built_at: str | None = None
    size_bytes: int = 0
    segments: list[SegmentStatus] = field(default_factory=list)
    unembedded: int = 0  # live passages without vectors yet: BM25 finds them, dense search does not
    embedding: progress.Progress | None = None  # the build embedding now: its rate and time left
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (segment, what is wrong)
    rebuild: str = ""  # the command that repairs a damaged part
    folder_error: str | None = None  # the documents folder could not be scanned
    files: int | None = None  # supported files in the folder
    pending: list[str] = field(default_factory=list)  # in the folder, not indexed yet
    gone: list[str] = field(default_factory=list)  # indexed, no longer in the folder
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason), files still in the folder
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # same content, indexed once

    def to_json(self) -> dict:
        out = asdict(self)
        for s, d in zip(self.segments, out["segments"]):
            d["tombstoned"] = s.tombstoned
        if self.embedding is not None:
            out["embedding"] |= {"rate": self.embedding.rate, "seconds_left": self.embedding.seconds_left}
        return out

    def embedding_line(self) -> str | None:
        """How far embedding has come, or None when every passage has its vector and no build embeds."""
        e = self.embedding
        if not self.unembedded and e is None:
            return None
        line = f"{self.unembedded:,} of {self.passages:,} passages still embedding (searched by BM25 only until then)"
        if e is None:
            return line + f"; no build is running: run policyqa build --index {self.index_dir} to finish"
        rate, left = e.rate, e.seconds_left
        pace = f"{rate:.1f} passages/s, {e.total - e.done:,} to go, about {_duration(left)} left" if rate else "starting"
        return line + f"; the build (pid {e.pid}) embeds {e.done:,} of {e.total:,}: {pace}"


def _segments(manifest: Manifest) -> list[SegmentStatus]:
    live: dict[str, int] = {}
    for d in manifest["documents"].values():
        live[d["segment"]] = live.get(d["segment"], 0) + d["passages"]
    out = []
    for s in manifest["segments"]:
        size = {name: v[0] for name, v in s["files"].items()}
        parts = {k: sum(size.get(n, 0) for n in names) for k, names in PARTS.items()}
        out.append(SegmentStatus(s["name"], s["rows"], live.get(s["name"], 0), s.get("vectors", "flat"), parts,
                                 segment.embedded(s)))
    return out


def gather(settings: Settings) -> IndexStatus:
    """Read the live commit, check its segments' sizes (cheap), and scan the documents folder."""
    index_dir = Path(settings.index_dir)
    st = IndexStatus(index_dir=str(settings.index_dir), corpus_dir=str(settings.corpus_dir), built=False,
                     chunker_current=settings.chunking.chunker_id, tokenizer_current=tokenizer.tokenizer_id())
    try:
        commit = layout.require_current(index_dir)
        m = commit.manifest()
    except IndexMissing:
        return st
    except IndexMismatch as e:  # the previous format, or a damaged commit or CURRENT
        st.problem = str(e)
        return st
    st.built, st.generation = True, commit.path.name
    st.documents, st.passages = len(m["documents"]), m["passages"]
    st.model, st.model_fingerprint, st.dimension = m["model"], m["model_fingerprint"], m["dimension"]
    st.encoder = m.get("encoder", "fp32")
    st.index_type, st.chunker, st.built_at = m["index_type"], m["chunker"], m["built_at"]
    st.tokenizer = m.get("tokenizer", "jieba")
    st.size_bytes = layout.size_on_disk(settings.index_dir)
    st.segments = _segments(m)
    st.unembedded = sum(s.live for s in st.segments if not s.embedded)
    st.embedding = progress.read(index_dir)
    st.damaged = [(s["name"], p) for s in m["segments"] if (p := segment.verify(index_dir / s["name"], s, full=False))]
    st.rebuild = rebuild_command(index_dir)
    st.duplicates = [(a, b) for a, b in m.get("duplicates", [])]
    try:
        entries, unsupported = scan(settings.corpus_dir, *known_files(m, settings.corpus_dir))
    except FileNotFoundError as e:
        st.folder_error = str(e)
        return st
    indexed = {d["doc_id"] for d in m["documents"].values()}
    recorded = {s for s, _ in m.get("skipped", [])}
    present = {e.source for e in entries}
    st.files = len(entries)
    st.pending = [e.source for e in entries if e.doc_id not in indexed and e.source not in recorded]
    st.gone = sorted(s for s in m["documents"] if s not in present)
    # skips recorded at build time, for files still in the folder, plus unsupported files found now
    st.skipped = [(s, r) for s, r in m.get("skipped", []) if s in present]
    st.skipped += [(s.source, s.reason) for s in unsupported if s.source not in {x for x, _ in st.skipped}]
    return st


def embedding_now(index_dir: Path) -> bool:
    """Whether a build is embedding into the index now (cheap: one small file; for a panel that polls)."""
    return progress.read(index_dir) is not None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def segment_lines(segments: list[SegmentStatus]) -> list[str]:
    """One line per segment: rows, live rows, tombstoned rows and bytes per part; then the totals."""
    lines = [f"segments:   {len(segments)}"]
    for s in segments:
        lines.append(f"  {s.name}: {s.rows} passages, {s.live} live, {s.tombstoned} tombstoned "
                     f"({s.vectors if s.embedded else 'not embedded yet'}); "
                     + ", ".join(f"{k.split(' ')[0]} {_mb(v)}" for k, v in s.parts.items()))
    totals = {k: sum(s.parts[k] for s in segments) for k in PARTS}
    lines.append("parts:      " + ", ".join(f"{k} {_mb(v)}" for k, v in totals.items()))
    return lines


def format_status(st: IndexStatus) -> str:
    """The text `policyqa status` prints (and the UI's 详细状态 shows); a newline in a file name stays on its line."""
    if st.problem:
        return shown(f"index:      {st.problem}")
    if not st.built:
        return f"no index in {st.index_dir}; build it with: policyqa build --index {st.index_dir}"
    lines = [
        f"index:      {st.index_dir} ({st.generation})",
        f"documents:  {st.documents}",
        f"passages:   {st.passages}",
        f"model:      {st.model} (weights {st.model_fingerprint}, {st.dimension}-d, {st.index_type}, encoder {st.encoder})",
        f"chunker:    {st.chunker}" + ("" if st.chunker == st.chunker_current else
                                       f" (this version uses {st.chunker_current}: run policyqa build)"),
        f"tokenizer:  {st.tokenizer}" + ("" if st.tokenizer == st.tokenizer_current else
                                         f" (now {st.tokenizer_current}: run policyqa build to re-cut the passages)"),
        f"built:      {st.built_at}",
        *([f"embedding:  {line}"] if (line := st.embedding_line()) else []),
        f"size:       {st.size_bytes / 1e6:.1f} MB on disk",
        *segment_lines(st.segments),
    ]
    if st.damaged:
        lines.append(f"damaged:    {len(st.damaged)}")
        lines += [f"  ! segment {name} is damaged: {p}; rebuild the damaged part with: {st.rebuild}" for name, p in st.damaged]
    if st.folder_error is not None:
        return "\n".join(shown(line) for line in lines + [f"folder:     {st.folder_error}"])
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
    return "\n".join(shown(line) for line in lines)


def status(settings: Settings) -> str:
    return format_status(gather(settings))
