"""What the index holds, and what in the documents folder it does not hold yet."""

from __future__ import annotations

from policyqa.config import Settings
from policyqa.corpus.reader import scan
from policyqa.index import layout


def status(settings: Settings) -> str:
    gen = layout.current(settings.index_dir)
    if gen is None:
        return f"no index in {settings.index_dir}; build it with: policyqa build --index {settings.index_dir}"
    m = gen.manifest()
    indexed = {d["doc_id"] for d in m["documents"].values()}
    lines = [
        f"index:      {settings.index_dir} ({gen.path.name})",
        f"documents:  {len(m['documents'])}",
        f"passages:   {m['passages']}",
        f"model:      {m['model']} (weights {m['model_fingerprint']}, {m['dimension']}-d, {m['index_type']}, "
        f"encoder {m.get('encoder', 'fp32')})",
        f"chunker:    {m['chunker']}" + ("" if m["chunker"] == settings.chunking.chunker_id else
                                         f" (this version uses {settings.chunking.chunker_id}: run policyqa build)"),
        f"built:      {m['built_at']}",
        f"size:       {layout.size_on_disk(settings.index_dir) / 1e6:.1f} MB on disk",
    ]
    try:
        entries, unsupported = scan(settings.corpus_dir)
    except FileNotFoundError as e:
        return "\n".join(lines + [f"folder:     {e}"])
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
    return "\n".join(lines)
