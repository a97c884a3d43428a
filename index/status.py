"""What the index holds, and what in the documents folder it does not hold yet."""

from __future__ import annotations

from pathlib import Path

from policyqa.config import Settings
from policyqa.corpus.paths import shown
from policyqa.corpus.reader import scan
from policyqa.index import layout, segment


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def segment_lines(index_dir: Path, manifest: dict) -> list[str]:
    """One line per segment: rows, live rows, tombstoned rows, bytes per part and whether it is in memory."""
    live: dict[str, int] = {}
    for d in manifest["documents"].values():
        live[d["segment"]] = live.get(d["segment"], 0) + d["passages"]
    lines = [f"segments:   {len(manifest['segments'])}"]
    totals = {"vectors (memory-mapped)": 0, "postings (in memory)": 0, "row arrays (in memory)": 0, "texts (on disk)": 0}
    for s in manifest["segments"]:
        f = {name: v[0] for name, v in s["files"].items()}
        parts = {
            "vectors (memory-mapped)": f.get("vectors.npy", 0),
            "postings (in memory)": sum(f.get(n, 0) for n in ("post_ptr.npy", "post_row.npy", "post_tf.npy", "lengths.npy",
                                                              "terms.json")),
            "row arrays (in memory)": f.get("doc_of.npy", 0),
            "texts (on disk)": f.get("store.sqlite", 0),
        }
        for k, v in parts.items():
            totals[k] += v
        dead = s["rows"] - live.get(s["name"], 0)
        lines.append(f"  {s['name']}: {s['rows']} passages, {live.get(s['name'], 0)} live, {dead} tombstoned; "
                     + ", ".join(f"{k.split(' ')[0]} {_mb(v)}" for k, v in parts.items()))
    lines.append("parts:      " + ", ".join(f"{k} {_mb(v)}" for k, v in totals.items()))
    return lines


def status(settings: Settings) -> str:
    index_dir = Path(settings.index_dir)
    try:
        commit = layout.require_current(index_dir)
        m = commit.manifest()
    except layout.IndexMissing:
        return f"no index in {settings.index_dir}; build it with: policyqa build --index {settings.index_dir}"
    except layout.IndexMismatch as e:
        return f"index:      {e}"
    damaged = [f"  ! segment {s['name']} is damaged: {p}; rebuild the damaged part with: {layout.rebuild_hint(index_dir)}"
               for s in m["segments"] if (p := segment.verify(index_dir / s["name"], s, full=False))]
    indexed = {d["doc_id"] for d in m["documents"].values()}
    lines = [
        f"index:      {settings.index_dir} ({commit.path.name})",
        f"documents:  {len(m['documents'])}",
        f"passages:   {m['passages']}",
        f"model:      {m['model']} (weights {m['model_fingerprint']}, {m['dimension']}-d, {m['index_type']}, "
        f"encoder {m.get('encoder', 'fp32')})",
        f"chunker:    {m['chunker']}" + ("" if m["chunker"] == settings.chunking.chunker_id else
                                         f" (this version uses {settings.chunking.chunker_id}: run policyqa build)"),
        f"built:      {m['built_at']}",
        f"size:       {layout.size_on_disk(settings.index_dir) / 1e6:.1f} MB on disk",
        *segment_lines(index_dir, m),
    ]
    if damaged:
        lines.append(f"damaged:    {len(damaged)}")
        lines += damaged
    try:
        entries, unsupported = scan(settings.corpus_dir)
    except FileNotFoundError as e:
        return "\n".join(shown(line) for line in lines + [f"folder:     {e}"])
    pending = [e.source for e in entries if e.doc_id not in indexed and e.source not in {s for s, _ in m["skipped"]}]
    present = {e.source for e in entries}
    gone = [s for s in m["documents"] if s not in present]
    lines.append(f"folder:     {settings.corpus_dir}: {len(entries)} files")
    lines.append(f"not indexed yet: {len(pending)}" + ("" if not pending else " (run policyqa build)"))
    lines += [f"  + {s}" for s in pending]
    if gone:
        lines.append(f"indexed but no longer in the folder: {len(gone)} (run policyqa build)")
        lines += [f"  - {s}" for s in gone]
    # skips recorded at build time, for files still in the folder, plus unsupported files found now
    skipped = [x for x in m.get("skipped", []) if x[0] in present]
    skipped += [[s.source, s.reason] for s in unsupported if s.source not in {x for x, _ in skipped}]
    if skipped:
        lines.append(f"skipped: {len(skipped)}")
        lines += [f"  ! {s}: {r}" for s, r in skipped]
    for a, b in m.get("duplicates", []):
        lines.append(f"duplicate: {a} = {b} (indexed once)")
    return "\n".join(shown(line) for line in lines)  # a newline in a file name stays on its line
