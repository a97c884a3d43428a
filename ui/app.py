"""The web UI: ask questions, read cited passages in their documents, manage the documents.

One `Searcher` per process holds the index and the model; it swaps in a newer index by itself
when an upload or a removal (or `policyqa build` from a shell) publishes one, so new documents
are searchable at once. Results are HTML built here, with every piece of document text escaped.

Stable hooks for tests and styling:
  #question, #search-btn, #results          search box, button, results panel
  .results[data-stamp]                      one per response (the stamp changes on every answer)
  .result-card[data-rank][data-city]        one passage: .rank .title .city .year .doc-type .score
      .section .answer-span .passage (with mark.answer and span.term) .citation
      details.doc-toggle > summary (原文) > .doc-view > mark.doc-passage
  .city-group[data-city] > .city-group-head  grouped view for 哪些城市 questions
  .notes, .no-answer, .nearest, .error-msg
  #upload, #upload-btn, #upload-result (.upload-ok, .upload-skipped), #doc-table,
  #remove-source, #remove-btn, #remove-result, #index-status
"""

from __future__ import annotations

import contextlib
import html
import itertools
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import gradio as gr

from policyqa.config import MAX_QUESTION_CHARS, Settings
from policyqa.corpus.loaders import SUPPORTED
from policyqa.index import layout
from policyqa.index.builder import BuildLocked, BuildReport, EmptyCorpus, build
from policyqa.index.layout import IndexMismatch, IndexMissing
from policyqa.index.lexical import tokenize
from policyqa.index.status import status as status_text
from policyqa.index.update import UpdateError, add_files, remove_sources, safe_name
from policyqa.qa.search import Filters, QuestionError, Searcher
from policyqa.qa.types import Answer, Hit

log = logging.getLogger("policyqa.ui")

ALL = "全部"
MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
DOC_VIEW_MAX_CHARS = 100_000  # longer documents: the 原文 view shows this much around the passage
EXAMPLES = [
    "哪些城市设立了科技特派员工作站",
    "岳阳市2022年力争认定多少家高新技术企业",
    "荆州市2022年技术合同成交额是多少",
    "广水市如何优化科技创新环境",
    "大冶市下一步如何强化科技人才支撑",
]
MODE_CHOICES = [("混合检索（推荐）", "hybrid"), ("语义向量", "dense"), ("关键词 BM25", "bm25")]
DOC_HEADERS = ["文件", "标题", "城市", "年份", "类型", "段落数"]

CSS = """
.app-header h1 { margin-bottom: 0.2em; }
.app-header p { color: var(--body-text-color-subdued); margin-top: 0; }
.results { display: flex; flex-direction: column; gap: 12px; }
.results .summary { color: var(--body-text-color-subdued); font-size: 0.9em; }
.result-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 12px 14px;
  background: var(--background-fill-primary); }
.result-card.nearest { border-style: dashed; opacity: 0.92; }
.card-head { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.card-head .rank { display: inline-block; min-width: 1.8em; text-align: center; border-radius: 999px;
  background: var(--color-accent); color: white; font-weight: 600; font-size: 0.85em; padding: 1px 6px; }
.card-head .title { font-weight: 600; font-size: 1.05em; }
.card-head .nearest-label { font-size: 0.8em; color: #b45309; border: 1px solid #f59e0b; border-radius: 4px; padding: 0 4px; }
.meta { display: flex; gap: 6px; flex-wrap: wrap; margin: 6px 0; font-size: 0.85em; }
.meta span { background: var(--background-fill-secondary); border-radius: 4px; padding: 1px 6px; }
.meta .score { color: var(--body-text-color-subdued); }
.section { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 6px; }
.answer-span { margin: 4px 0 8px; }
.answer-span strong { background: #dcfce7; color: #14532d; padding: 1px 6px; border-radius: 4px; }
.passage, .doc-text { white-space: pre-wrap; line-height: 1.75; }
mark.answer { background: #fef08a; color: inherit; padding: 0 1px; }
span.term { color: #b91c1c; font-weight: 600; }
.citation { font-size: 0.82em; color: var(--body-text-color-subdued); margin-top: 8px;
  border-top: 1px dashed var(--border-color-primary); padding-top: 6px; }
details.doc-toggle { margin-top: 6px; }
details.doc-toggle > summary { cursor: pointer; color: var(--color-accent); font-size: 0.9em; user-select: none; }
.doc-view { max-height: 420px; overflow-y: auto; border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 10px 12px; margin-top: 6px; background: var(--background-fill-secondary); }
.doc-view-head { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 6px; }
mark.doc-passage { background: #fde68a; color: inherit; outline: 2px solid #f59e0b; border-radius: 2px; }
mark.doc-passage b.doc-answer { text-decoration: underline; }
.city-group { border-left: 4px solid var(--color-accent); padding-left: 10px; display: flex; flex-direction: column; gap: 8px; }
.city-group-head { font-weight: 600; }
.city-group-head .count { font-weight: normal; color: var(--body-text-color-subdued); margin-left: 6px; }
.groups-head { font-weight: 600; font-size: 1.05em; }
.notes { margin: 0; padding-left: 0; list-style: none; color: #1d4ed8; font-size: 0.9em; }
.no-answer { border: 1px solid #f59e0b; background: #fffbeb; color: #92400e; border-radius: 8px; padding: 10px 14px; }
.error-msg { border: 1px solid #ef4444; background: #fef2f2; color: #991b1b; border-radius: 8px; padding: 10px 14px; }
.placeholder { color: var(--body-text-color-subdued); }
.upload-ok { color: #166534; } .upload-skipped { color: #991b1b; }
.index-status dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; }
.index-status dt { color: var(--body-text-color-subdued); } .index-status dd { margin: 0; }
"""

# ------------------------------------------------------------------------------------------
# One searcher per process


_searchers: dict[Settings, Searcher] = {}
_searchers_lock = threading.Lock()


def searcher_for(settings: Settings) -> Searcher:
    """The process's Searcher for these settings: the model and index are loaded once."""
    with _searchers_lock:
        s = _searchers.get(settings)
        if s is None:
            s = _searchers[settings] = Searcher(settings)
        return s


# ------------------------------------------------------------------------------------------
# Rendering (pure functions: unit-testable without a browser or a model)

_stamps = itertools.count(1)
_e = html.escape


def query_terms(question: str) -> list[str]:
    """The question's lexical terms worth highlighting: two characters or more, longest first."""
    try:
        terms = {t for t in tokenize(question or "") if len(t) >= 2}
    except Exception:  # highlighting is a nicety: never fail a search over it
        return []
    return sorted(terms, key=lambda t: (-len(t), t))


def _term_mask(text: str, terms: Iterable[str]) -> list[bool]:
    mask = [False] * len(text)
    low = text.lower()
    for t in terms:
        i = low.find(t)
        while i != -1:
            for j in range(i, i + len(t)):
                mask[j] = True
            i = low.find(t, i + 1)
    return mask


def markup(text: str, ranges: list[tuple[int, int, str, str]] = (), terms: Iterable[str] = ()) -> str:
    """Escaped `text` with `ranges` (start, end, open tag, close tag; nested or disjoint) wrapped
    and every occurrence of `terms` in <span class="term">. Tags must be trusted markup."""
    n = len(text)
    spans = sorted(
        ((max(0, a), min(n, b), o, c) for a, b, o, c in ranges if a is not None and b is not None and min(n, b) > max(0, a)),
        key=lambda r: (r[0], -r[1]),
    )
    mask = _term_mask(text, terms) if terms else [False] * n
    points = {0, n} | {r[0] for r in spans} | {r[1] for r in spans}
    points |= {i for i in range(1, n) if mask[i] != mask[i - 1]}
    cuts = sorted(points)
    out: list[str] = []
    stack: list[tuple[int, int, str, str]] = []
    pending = list(spans)
    for p, q in itertools.pairwise(cuts):
        while stack and stack[-1][1] <= p:
            out.append(stack.pop()[3])
        while pending and pending[0][0] <= p:
            r = pending.pop(0)
            out.append(r[2])
            stack.append(r)
        piece = _e(text[p:q])
        out.append(f'<span class="term">{piece}</span>' if mask[p] else piece)
    while stack:
        out.append(stack.pop()[3])
    return "".join(out)


def _scroll_js(selector: str) -> str:
    # Inline, because gr.HTML inserts markup with innerHTML: <script> would not run, handlers do.
    return f"if(this.open){{var m=this.querySelector('{selector}');if(m){{m.scrollIntoView({{block:'center'}});}}}}"


def render_doc_view(hit: Hit, doc_text: str | None, uid: str, source_label: str) -> str:
    """The whole document with the passage marked; opening the <details> scrolls to it."""
    if doc_text is None:
        return '<div class="doc-view"><p class="error-msg">原文不可用：文档已不在索引中。</p></div>'
    offset, text, note = 0, doc_text, ""
    if len(doc_text) > DOC_VIEW_MAX_CHARS:
        half = DOC_VIEW_MAX_CHARS // 2
        offset = max(0, min(hit.start - half, len(doc_text) - DOC_VIEW_MAX_CHARS))
        text = doc_text[offset : offset + DOC_VIEW_MAX_CHARS]
        note = f"（文档共 {len(doc_text)} 字，此处显示第 {offset}–{offset + len(text)} 字）"
    ranges = [(hit.start - offset, hit.end - offset, f'<mark class="doc-passage" id="doc-passage-{uid}">', "</mark>")]
    if hit.answer_start is not None and hit.answer_end is not None:
        ranges.append((hit.answer_start - offset, hit.answer_end - offset, '<b class="doc-answer">', "</b>"))
    return (
        f'<div class="doc-view" id="doc-view-{uid}">'
        f'<div class="doc-view-head">原文：{_e(source_label)}{_e(note)}</div>'
        f'<div class="doc-text">{markup(text, ranges)}</div></div>'
    )


def render_card(hit: Hit, terms: list[str], doc_text: str | None, nearest: bool = False) -> str:
    uid = f"r{hit.rank}"
    a = (hit.answer_start - hit.start) if hit.answer_start is not None else None
    b = (hit.answer_end - hit.start) if hit.answer_end is not None else None
    passage = markup(hit.text, [(a, b, '<mark class="answer">', "</mark>")] if a is not None else [], terms)
    parts = hit.section.split(" > ")
    section = " › ".join(parts[1:]) if len(parts) > 1 else "正文开头"
    city = hit.place
    meta = [f'<span class="city">{_e(city)}</span>']
    if hit.year:
        meta.append(f'<span class="year">{hit.year}年</span>')
    meta.append(f'<span class="doc-type">{_e(hit.doc_type or "其他")}</span>')
    meta.append(f'<span class="score" title="融合得分（越高越相关）">得分 {hit.score:.4f}</span>')
    span = f'<div class="answer-span">答案：<strong>{_e(hit.answer_span)}</strong></div>' if hit.answer_span else ""
    label = '<span class="nearest-label">最接近的段落（仅供参考）</span>' if nearest else ""
    return (
        f'<div class="result-card{" nearest" if nearest else ""}" id="card-{uid}" data-rank="{hit.rank}" '
        f'data-city="{_e(city, quote=True)}" data-source="{_e(hit.source, quote=True)}">'
        f'<div class="card-head"><span class="rank">{hit.rank}</span><span class="title">《{_e(hit.title)}》</span>{label}</div>'
        f'<div class="meta">{"".join(meta)}</div>'
        f'<div class="section">章节：{_e(section)}</div>{span}'
        f'<div class="passage">{passage}</div>'
        f'<div class="citation">出处：{_e(hit.citation)} · 文件 {_e(hit.source)}</div>'
        f'<details class="doc-toggle" ontoggle="{_e(_scroll_js("mark.doc-passage"), quote=True)}">'
        f'<summary>原文</summary>{render_doc_view(hit, doc_text, uid, hit.source)}</details>'
        f"</div>"
    )


def _results(inner: str, question: str = "") -> str:
    return f'<div class="results" data-stamp="{next(_stamps)}" data-question="{_e(question, quote=True)}">{inner}</div>'


def render_error(message: str) -> str:
    return _results(f'<div class="error-msg">{_e(message)}</div>')


def render_answer(answer: Answer, docs: dict | None = None) -> str:
    """The whole results panel for one answer: notes, no-answer notice, groups or plain cards."""
    docs = docs or {}
    terms = query_terms(answer.question)
    text_of = lambda h: docs[h.doc_id].text if h.doc_id in docs else None
    nearest = not answer.found
    out: list[str] = []
    if answer.notes:
        out.append('<ul class="notes">' + "".join(f"<li>※ {_e(n)}</li>" for n in answer.notes) + "</ul>")
    if not answer.hits:
        out.append('<div class="no-answer">未找到相关内容：没有符合条件的段落。可以放宽筛选条件或换一种问法。</div>')
        return _results("".join(out), answer.question)
    if nearest:
        out.append('<div class="no-answer">未找到相关内容。以下是最接近的段落，仅供参考：</div>')
    if answer.groups:
        by_rank = {h.rank: h for h in answer.hits}
        out.append(f'<div class="groups-head">涉及 {len(answer.groups)} 个地方：'
                   f'{_e("、".join(g.city for g in answer.groups))}</div>')
        shown: set[int] = set()
        for g in answer.groups:
            cards = [render_card(by_rank[r], terms, text_of(by_rank[r]), nearest) for r in g.ranks if r in by_rank]
            shown.update(g.ranks)
            out.append(
                f'<div class="city-group" data-city="{_e(g.city, quote=True)}">'
                f'<div class="city-group-head">{_e(g.city)}<span class="count">{len(g.ranks)} 段相关内容</span></div>'
                + "".join(cards) + "</div>"
            )
        rest = [h for h in answer.hits if h.rank not in shown]
        if rest:
            out.append('<div class="groups-head">其他段落</div>')
            out += [render_card(h, terms, text_of(h), nearest) for h in rest]
    else:
        label = f"最接近的 {len(answer.hits)} 个段落" if nearest else f"共 {len(answer.hits)} 条结果"
        out.append(f'<div class="summary">{label}</div>')
        out += [render_card(h, terms, text_of(h), nearest) for h in answer.hits]
    return _results("".join(out), answer.question)


PLACEHOLDER = _results(
    '<p class="placeholder">输入问题后按回车或点击“搜索”。结果会列出出处（文件、章节、字符位置），点击“原文”可查看整篇文档。</p>'
)


# ------------------------------------------------------------------------------------------
# Documents: metadata for the table, filters and status


def filter_choices(searcher: Searcher) -> tuple[list[str], list[str], list[str]]:
    docs = searcher.index.docs.values()
    cities = sorted({d.meta.city for d in docs if d.meta.city})
    years = sorted({y for d in docs for y in ([*(d.meta.years or []), d.meta.year]) if y})
    types = sorted({d.meta.doc_type for d in docs if d.meta.doc_type})
    return [ALL, *cities], [ALL, *map(str, years)], [ALL, *types]


def doc_rows(searcher: Searcher) -> list[list]:
    rows = []
    for d in sorted(searcher.index.docs.values(), key=lambda d: d.source):
        m = d.meta
        rows.append([d.source, m.title, m.city or "", str(m.year or ""), m.doc_type, len(d.passages)])
    return rows


def status_html(settings: Settings) -> str:
    gen = layout.current(settings.index_dir)
    if gen is None:
        return f'<div class="index-status"><p class="error-msg">没有索引：{_e(str(settings.index_dir))}</p></div>'
    m = gen.manifest()
    built = m.get("built_at", "")
    with contextlib.suppress(ValueError):
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.strptime(built, "%Y-%m-%dT%H:%M:%S%z"))
    rows = [
        ("模型", f"{m.get('model')}（{m.get('dimension')} 维，权重 {m.get('model_fingerprint')}）"),
        ("文档", f"{len(m.get('documents', {}))} 篇"),
        ("段落", f"{m.get('passages')} 段"),
        ("最近构建", built),
        ("索引位置", f"{settings.index_dir}（{gen.path.name}）"),
        ("文档文件夹", str(settings.corpus_dir)),
    ]
    corpus = Path(settings.corpus_dir)
    skipped = [src for src, _ in m.get("skipped", []) if (corpus / src).is_file()]  # not those taken out since
    if skipped:
        rows.append(("未能读取", f"{len(skipped)} 个文件：{'、'.join(skipped[:5])}" + ("等" if len(skipped) > 5 else "")))
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(str(v))}</dd>" for k, v in rows)
    return f'<div class="index-status"><dl>{body}</dl></div>'


_REASONS = [  # LoadError messages (English, for the CLI) → what the page says
    ("file is empty", "文件为空"),
    ("looks like a binary file", "看起来是二进制文件，不是文本"),
    ("not valid UTF-8 or GB18030", "不是有效的 UTF-8 或 GB18030 文本，请另存为 UTF-8"),
    ("no text found", "没有找到文字（空文件，或没有文字层的扫描版 PDF）"),
    ("no passages with text", "没有可检索的正文段落"),
    ("is encrypted", "PDF 已加密，请保存一份未加密的副本"),
    ("not a valid .docx", "不是有效的 .docx 文件，请用 Word 或 WPS 重新保存"),
    ("unsupported file type", "不支持的文件类型"),
    ("cannot read", "文件已损坏或无法解析"),
]


def reason_zh(reason: str) -> str:
    """A Chinese reason for a skipped file, keeping the original detail (without the path)."""
    detail = reason.split(": ", 1)[1] if reason.startswith(("/", ".")) and ": " in reason else reason
    for key, zh in _REASONS:
        if key in reason:
            return f"{zh}（{detail}）"
    return f"无法读取（{detail}）"


def check_uploads(paths: list[Path], max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files fit to add, and (name, Chinese reason) for the rest."""
    ok, rejected = [], []
    for p in paths:
        if p.suffix.lower() not in SUPPORTED:
            rejected.append((p.name, f"不支持的文件类型 {p.suffix or '（无扩展名）'}，支持：{'、'.join(SUPPORTED)}"))
        elif not p.is_file():
            rejected.append((p.name, "上传的文件不存在（可能已过期），请重新上传"))
        elif p.stat().st_size > max_bytes:
            size_mb = p.stat().st_size / 1024 / 1024
            rejected.append((p.name, f"文件过大（{size_mb:.1f} MB），单个文件上限 {max_bytes // 1024 // 1024} MB"))
        elif p.stat().st_size == 0:
            rejected.append((p.name, "文件为空"))
        else:
            ok.append(p)
    return ok, rejected


def upload_report(report: BuildReport | None, names: list[str], rejected: list[tuple[str, str]], removed: list[str]) -> str:
    """What happened to each uploaded file, in Chinese."""
    lines_ok, lines_bad = [], []
    if report is not None:
        added, updated = set(report.added), set(report.updated)
        skipped = {s.source: s.reason for s in report.skipped}
        dup = dict(report.duplicates)
        for n in names:
            if n in added:
                lines_ok.append(f"已加入并索引：{n}")
            elif n in updated:
                lines_ok.append(f"已替换同名文件并重新索引：{n}")
            elif n in skipped:
                lines_bad.append(f"未能读取：{n}：{reason_zh(skipped[n])}" + ("，已从文档文件夹移除" if n in removed else ""))
            elif n in dup:
                lines_ok.append(f"内容与已有文档 {dup[n]} 相同，只索引一次：{n}")
            else:
                lines_ok.append(f"内容未变，已在索引中：{n}")
    lines_bad += [f"未上传：{n}：{why}" for n, why in rejected]
    out = []
    if lines_ok:
        out.append('<ul class="upload-ok">' + "".join(f"<li>{_e(x)}</li>" for x in lines_ok) + "</ul>")
    if lines_bad:
        out.append('<ul class="upload-skipped">' + "".join(f"<li>{_e(x)}</li>" for x in lines_bad) + "</ul>")
    if report is not None:
        out.append(f'<p class="upload-summary">索引现有 {report.documents} 篇文档、{report.passages} 个段落'
                   f'（本次新向量化 {report.embedded} 段，用时 {report.seconds:.1f} 秒）。</p>')
    return "".join(out)


def _index_error(e: Exception) -> str:
    if isinstance(e, BuildLocked):
        return "另一个索引任务正在进行，请稍后重试。"
    if isinstance(e, EmptyCorpus):
        return f"文档文件夹中没有可读取的文档，索引未改变。（{e}）"
    if isinstance(e, (IndexMissing, IndexMismatch)):
        return f"索引不可用：{e}"
    if isinstance(e, UpdateError):
        return f"操作失败：{e}"
    return f"出错了（{type(e).__name__}: {e}）。请重试；若问题持续，请查看服务器日志。"


# ------------------------------------------------------------------------------------------
# The app


class PolicyQABlocks(gr.Blocks):
    """gr.Blocks whose launch() applies this app's CSS and upload size limit unless told otherwise
    (Gradio 6 takes css at launch, and callers such as tests launch the Blocks directly)."""

    def launch(self, *args, **kwargs):
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("max_file_size", MAX_UPLOAD_BYTES)
        return super().launch(*args, **kwargs)


def build_app(settings: Settings, searcher: Searcher | None = None) -> gr.Blocks:
    """The Gradio app over the index in `settings.index_dir` (raises IndexMissing without one)."""
    searcher = searcher or searcher_for(settings)
    cities, years, types = filter_choices(searcher)

    def on_search(question, city, year, doc_type, mode, top_k):
        try:
            question = (question or "").strip()
            filters = Filters(
                city=None if city in (None, "", ALL) else city,
                year=None if year in (None, "", ALL) else int(year),
                doc_type=None if doc_type in (None, "", ALL) else doc_type,
            )
            answer = searcher.ask(question, top_k=int(top_k or 5), mode=mode or "hybrid", filters=filters)
            return render_answer(answer, searcher.index.docs)
        except QuestionError as e:
            return render_error(str(e))
        except (IndexMissing, IndexMismatch) as e:
            return render_error(f"索引不可用：{e}")
        except Exception as e:
            log.exception("search failed")
            return render_error(f"检索出错（{type(e).__name__}: {e}）。请重试；若问题持续，请查看服务器日志。")

    def refresh(city=ALL, year=ALL, doc_type=ALL):
        """Everything that depends on the index: filters, table, remove list, status."""
        try:
            c, y, t = filter_choices(searcher)
            rows = doc_rows(searcher)
            sources = [r[0] for r in rows]
        except Exception as e:  # the index vanished under us: say so, keep the page usable
            log.exception("refresh failed")
            c, y, t, rows, sources = [ALL], [ALL], [ALL], [], []
            return (gr.update(choices=c, value=ALL), gr.update(choices=y, value=ALL), gr.update(choices=t, value=ALL),
                    rows, gr.update(choices=sources, value=None), f'<p class="error-msg">{_e(_index_error(e))}</p>', "")
        keep = lambda v, choices: v if v in choices else ALL
        return (
            gr.update(choices=c, value=keep(city, c)),
            gr.update(choices=y, value=keep(year, y)),
            gr.update(choices=t, value=keep(doc_type, t)),
            rows,
            gr.update(choices=sources, value=None),
            status_html(settings),
            status_text(settings),
        )

    def on_upload(files, city, year, doc_type, progress=gr.Progress()):
        paths = [Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in (files or [])]
        if not paths:
            return ('<p class="upload-skipped">请先选择要上传的文件。</p>', gr.update(), *refresh(city, year, doc_type))
        progress(0.05, desc="检查文件…")
        ok, rejected = check_uploads(paths)
        report, removed = None, []
        names = [safe_name(p.name) for p in ok]
        if ok:
            corpus = Path(settings.corpus_dir)
            existed = {n for n in names if (corpus / n).exists()}
            progress(0.2, desc=f"正在复制并索引 {len(ok)} 个文件（解析、切分、向量化）…")
            try:
                report = add_files(settings, ok, progress=False)
            except Exception as e:
                if not isinstance(e, (BuildLocked, EmptyCorpus, UpdateError)):
                    log.exception("upload failed")
                msg = f'<p class="upload-skipped">{_e(_index_error(e))}</p>' + upload_report(None, [], rejected, [])
                return msg, None, *refresh(city, year, doc_type)
            # an unreadable file we just copied in would only be skipped at every build: take it out again
            bad = {s.source for s in report.skipped}
            for n in names:
                if n in bad and n not in existed:
                    (corpus / n).unlink(missing_ok=True)
                    removed.append(n)
            progress(0.95, desc="刷新…")
            searcher.index  # noqa: B018  (load the new generation now, not on the next question)
        return upload_report(report, names, rejected, removed), None, *refresh(city, year, doc_type)

    def on_remove(source, city, year, doc_type, progress=gr.Progress()):
        if not source:
            return '<p class="upload-skipped">请先在列表中选择要删除的文档。</p>', *refresh(city, year, doc_type)
        if len(searcher.index.docs) <= 1:
            return '<p class="upload-skipped">这是索引中唯一的文档，不能删除。</p>', *refresh(city, year, doc_type)
        progress(0.2, desc="删除并更新索引…")
        try:
            report = remove_sources(settings, [source], progress=False)
        except Exception as e:
            if not isinstance(e, (BuildLocked, EmptyCorpus, UpdateError)):
                log.exception("remove failed")
            return f'<p class="upload-skipped">{_e(_index_error(e))}</p>', *refresh(city, year, doc_type)
        searcher.index  # noqa: B018
        msg = (f'<p class="upload-ok">已删除：{_e(source)}（文件已移到文档文件夹的 .removed/ 中，可以找回）。'
               f"索引现有 {report.documents} 篇文档。</p>")
        return msg, *refresh(city, year, doc_type)

    with PolicyQABlocks(title="政策文件检索问答 · policyqa", analytics_enabled=False) as demo:
        gr.HTML(
            '<div class="app-header"><h1 id="app-title">政策文件检索问答</h1>'
            "<p>用自然语言提问，从已索引的政府政策文件中找出相关段落和答案句，并给出处。</p></div>",
            js_on_load=None,
        )
        with gr.Tabs():
            with gr.Tab("检索问答", id="search-tab"):
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        label="问题", placeholder="例如：哪些城市设立了科技特派员工作站", lines=1, max_lines=3,
                        max_length=MAX_QUESTION_CHARS, scale=6, elem_id="question", autofocus=True, submit_btn=False,
                    )
                    search_btn = gr.Button("搜索", variant="primary", scale=1, min_width=100, elem_id="search-btn")
                with gr.Row():
                    city_dd = gr.Dropdown(cities, value=ALL, label="城市", elem_id="filter-city")
                    year_dd = gr.Dropdown(years, value=ALL, label="年份", elem_id="filter-year")
                    type_dd = gr.Dropdown(types, value=ALL, label="文档类型", elem_id="filter-type")
                with gr.Accordion("高级选项", open=False, elem_id="advanced"), gr.Row():
                    mode = gr.Radio(MODE_CHOICES, value="hybrid", label="检索方式", elem_id="mode")
                    top_k = gr.Slider(1, 20, value=5, step=1, label="返回段落数（top-k）", elem_id="top-k")
                gr.Examples(EXAMPLES, inputs=[question], label="示例问题（点击填入）", elem_id="examples")
                results = gr.HTML(PLACEHOLDER, elem_id="results", js_on_load=None)
            with gr.Tab("文档管理", id="docs-tab"):
                gr.Markdown("### 已索引的文档")
                table = gr.Dataframe(doc_rows(searcher), headers=DOC_HEADERS, interactive=False, wrap=True,
                                     column_widths=["30%", "34%", "9%", "7%", "11%", "9%"], elem_id="doc-table")
                with gr.Row():
                    with gr.Column(scale=3):
                        gr.Markdown(f"### 上传文档\n支持 {'、'.join(SUPPORTED)}，单个文件不超过 {MAX_UPLOAD_MB} MB。"
                                    "上传后会复制到文档文件夹并立即建立索引，完成后即可检索。")
                        upload = gr.File(label="选择文件", file_count="multiple", file_types=list(SUPPORTED),
                                         type="filepath", height=180, elem_id="upload")
                        upload_btn = gr.Button("上传并建立索引", variant="primary", elem_id="upload-btn")
                        upload_result = gr.HTML("", elem_id="upload-result", js_on_load=None, min_height=60)
                        gr.Markdown("### 删除文档\n文件会移到文档文件夹的 `.removed/` 中（不会真正删除），并从索引中去掉。")
                        with gr.Row():
                            remove_dd = gr.Dropdown([r[0] for r in doc_rows(searcher)], value=None, label="选择文档",
                                                    elem_id="remove-source", scale=4)
                            remove_btn = gr.Button("删除", variant="stop", elem_id="remove-btn", scale=1, min_width=100)
                        remove_result = gr.HTML("", elem_id="remove-result", js_on_load=None, min_height=50)
                    with gr.Column(scale=2):
                        gr.Markdown("### 索引状态")
                        status_panel = gr.HTML(status_html(settings), elem_id="index-status", js_on_load=None)
                        with gr.Accordion("详细状态（policyqa status）", open=False):
                            status_raw = gr.Textbox(status_text(settings), show_label=False, lines=12, interactive=False,
                                                    elem_id="status-raw")

        filters = [city_dd, year_dd, type_dd]
        refreshed = [city_dd, year_dd, type_dd, table, remove_dd, status_panel, status_raw]
        gr.on([question.submit, search_btn.click], on_search, inputs=[question, *filters, mode, top_k], outputs=results,
              concurrency_limit=4, show_progress="minimal")
        upload_btn.click(on_upload, inputs=[upload, *filters], outputs=[upload_result, upload, *refreshed],
                         concurrency_limit=1, concurrency_id="index-write", show_progress_on=[upload_result])
        remove_btn.click(on_remove, inputs=[remove_dd, *filters], outputs=[remove_result, *refreshed],
                         concurrency_limit=1, concurrency_id="index-write", show_progress_on=[remove_result])
        demo.load(refresh, inputs=filters, outputs=refreshed, show_progress="hidden")
    return demo


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, build_if_missing: bool = False) -> None:
    """Load the index and model once and serve the UI on host:port until interrupted."""
    if layout.current(settings.index_dir) is None:
        if not build_if_missing:
            raise IndexMissing(
                f"no index in {settings.index_dir}; build it first with: policyqa build --index {settings.index_dir} "
                "(or start with: policyqa serve --build-if-missing)"
            )
        print(f"no index in {settings.index_dir}: building it from {settings.corpus_dir} first")
        print(build(settings, progress=True).summary())
    searcher = searcher_for(settings)
    searcher.ask("科技创新", top_k=1)  # warm up the model and the tokenizer before the first visitor
    app = build_app(settings, searcher)
    print(f"policyqa UI on http://{host}:{port} (index {settings.index_dir}, {len(searcher.index.docs)} documents)")
    app.launch(server_name=host, server_port=port, show_error=False, footer_links=["gradio", "settings"])
