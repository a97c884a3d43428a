"""Outline and passages for Chinese official documents.

Official documents number their outline with a small set of markers (一、 （一） 1、 （1）,
第X章 / 第X条); news reports use short standalone lines instead. A heading either stands on
its own line or opens a paragraph ("1、深化科技体制改革。正文……"). Levels are assigned by
order of first appearance, the way a reader infers them, so a document that starts at （一）
or skips a level still nests correctly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policyqa.corpus.types import Extracted, Heading, Passage

CHUNKER_VERSION = "3"
_CN_NUM = "一二三四五六七八九十百零〇两"
_MARKERS: list[tuple[str, re.Pattern[str]]] = [
    ("chapter", re.compile(rf"第[{_CN_NUM}\d]+[编章](?:\s|$)")),
    ("jie", re.compile(rf"第[{_CN_NUM}\d]+节(?:\s|$)")),
    ("article", re.compile(rf"第[{_CN_NUM}\d]+条(?:\s|$)")),
    ("cn", re.compile(rf"[{_CN_NUM}]+[、．.](?!\d)")),
    ("cn_paren", re.compile(rf"[（(][{_CN_NUM}]+[）)]")),
    ("num", re.compile(r"\d{1,2}[、．.](?!\d)")),
    ("num_paren", re.compile(r"[（(]\d{1,2}[）)]")),
    ("circled", re.compile(r"[①-⑳]")),
]
_SENTENCE_END = "。！？；!?;"
_CLOSERS = "”’」』）)》"
_MAX_HEADING = 40
_MAX_PLAIN_HEADING = 30


@dataclass(frozen=True)
class ChunkParams:
    max_chars: int = 512
    overlap_sentences: int = 0

    @property
    def chunker_id(self) -> str:
        """Recorded in the manifest: an index built with other chunking is detected."""
        return f"sections-v{CHUNKER_VERSION}-{self.max_chars}-{self.overlap_sentences}"


def _lines(text: str):
    pos = 0
    for raw in text.split("\n"):
        lead = len(raw) - len(raw.lstrip())
        yield pos + lead, pos + len(raw.rstrip()), raw.strip()
        pos += len(raw) + 1


def marker(line: str) -> tuple[str, int] | None:
    for kind, pattern in _MARKERS:
        m = pattern.match(line)
        if m:
            return kind, m.end()
    return None


def is_plain_heading(line: str, next_line: str | None) -> bool:
    """A short line without sentence punctuation followed by body text: a news-style title."""
    if not (4 <= len(line) <= _MAX_PLAIN_HEADING) or next_line is None:
        return False
    if line[-1] in _SENTENCE_END + "，,：:、" or re.search(r"[：:【】\[\]□|]|^——", line):
        return False
    return is_wordy(line) and len(next_line) > len(line)


def is_wordy(line: str) -> bool:
    """At least four Chinese characters and not a date or number line: could be a title or a heading."""
    return not re.fullmatch(r"[\d\s年月日.\-/:：]+", line) and len(re.findall(r"[\u4e00-\u9fff]", line)) >= 4


def _is_title(line: str, title: str) -> bool:
    """The title line (or its ——subtitle) repeated in the text, not a heading inside it."""
    line, title = line.replace(" ", "").lstrip("—"), title.replace(" ", "")
    return line in title and (len(line) >= 0.4 * len(title) or title.startswith(line) or title.endswith(line))


def find_headings(text: str, title: str | None = None) -> list[Heading]:
    """Detect headings in plain text. Title lines are left out: the title is the path's root."""
    lines = [ln for ln in _lines(text) if ln[2]]
    marked: list[tuple[str, Heading]] = []
    plain: list[Heading] = []
    for i, (start, end, line) in enumerate(lines):
        if title and _is_title(line, title):
            continue
        hit = marker(line)
        if hit:
            kind, body_at = hit
            rest = line[body_at:].lstrip()
            if kind == "article":  # 第三条 is cited by its number, and its text is the article body
                marked.append((kind, Heading(start, end, 0, line[:body_at].strip(), run_in=bool(rest))))
                continue
            stop = min((rest.find(c) for c in "。：:；;！？" if c in rest), default=-1)
            if stop == -1 and len(rest) <= _MAX_HEADING:
                marked.append((kind, Heading(start, end, 0, rest)))
            elif 0 < stop <= _MAX_HEADING:
                marked.append((kind, Heading(start, end, 0, rest[:stop], run_in=True)))
            continue
        nxt = lines[i + 1][2] if i + 1 < len(lines) else None
        if is_plain_heading(line, nxt):
            plain.append(Heading(start, end, 0, line))
    if len(marked) < 2:
        return [Heading(h.start, h.end, 1, h.text) for h in plain]
    stack: list[str] = []
    out = []
    for kind, h in marked:
        if kind in stack:
            del stack[stack.index(kind) + 1 :]
        else:
            stack.append(kind)
        h.level = len(stack)
        out.append(h)
    return out


def outline(ex: Extracted, title: str) -> list[Heading]:
    """Explicit headings from the file format win; otherwise detect them from the text."""
    explicit = [h for h in ex.headings if h.level > 0 and h.text.strip() != title]
    if explicit:
        levels = sorted({h.level for h in explicit})
        return [Heading(h.start, h.end, levels.index(h.level) + 1, h.text) for h in explicit]
    return find_headings(ex.text, title)


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences between start and end: cut after 。！？； (and closing quotes) and at newlines."""
    spans, s, i = [], start, start
    while i < end:
        ch = text[i]
        if ch in _SENTENCE_END or ch == "\n":
            j = i + 1
            while j < end and text[j] in _CLOSERS:
                j += 1
            spans.append((s, j))
            s = i = j
            continue
        i += 1
    if s < end:
        spans.append((s, end))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def _hard_split(text: str, a: int, b: int, limit: int) -> list[tuple[int, int]]:
    """A sentence longer than the limit is cut at the last comma before it, else at the limit."""
    out = []
    while b - a > limit:
        cut = max(text.rfind(c, a, a + limit) for c in "，,、 ")
        cut = cut + 1 if cut > a + limit // 2 else a + limit
        out.append((a, cut))
        a = cut
    out.append((a, b))
    return out


def pack(text: str, start: int, end: int, params: ChunkParams) -> list[tuple[int, int]]:
    """Greedy packing of whole sentences into spans of at most max_chars."""
    sents: list[tuple[int, int]] = []
    for a, b in sentence_spans(text, start, end):
        sents.extend(_hard_split(text, a, b, params.max_chars))
    chunks, i = [], 0
    while i < len(sents):
        j = i + 1
        while j < len(sents) and sents[j][1] - sents[i][0] <= params.max_chars:
            j += 1
        chunks.append((sents[i][0], sents[j - 1][1]))
        if j >= len(sents):
            break
        i = max(j - params.overlap_sentences, i + 1)
    return chunks


def passages(doc_id: str, ex: Extracted, title: str, params: ChunkParams = ChunkParams()) -> list[Passage]:
    text = ex.text
    heads = outline(ex, title)
    # (path, content start, content end) for the preamble and each heading's section
    sections: list[tuple[list[str], int, int]] = [([title], 0, heads[0].start if heads else len(text))]
    path: list[str] = [title]
    for k, h in enumerate(heads):
        path = path[: h.level] + [h.text]
        body_from = h.start if h.run_in else h.end
        body_to = heads[k + 1].start if k + 1 < len(heads) else len(text)
        sections.append((list(path), body_from, body_to))
    out: list[Passage] = []
    for sec_path, a, b in sections:
        for s, e in pack(text, a, b, params):
            if re.search(r"[\u4e00-\u9fffA-Za-z0-9]", text[s:e]):
                out.append(Passage(doc_id, len(out), s, e, sec_path, text[s:e]))
    return out
