"""The results panel, the status panel and upload reports as HTML: pure functions of data.

Every piece of document text is escaped here; nothing in this module touches Gradio, the
index on disk or the model, so all of it is unit-tested without a browser (tests/ui/test_render.py).
"""

from __future__ import annotations

import contextlib
import html
import itertools
import time
from collections.abc import Iterable

from policyqa.encode.tokenizer import tokenize
from policyqa.errors import BuildLocked, CannotWrite, EmptyCorpus, IndexMismatch, IndexMissing, PolicyQAError, UpdateError
from policyqa.index.build import BuildReport
from policyqa.index.status import IndexStatus
from policyqa.qa.types import Answer, Hit
from policyqa.ui.links import SearchParams

DOC_VIEW_MAX_CHARS = 100_000  # longer documents: the 原文 view shows this much around the passage

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


STATUS_CLASS = {"现行有效": "in-force", "尚未施行": "not-yet", "已失效": "expired", "已废止": "repealed"}


def render_status(hit: Hit) -> str:
    """The document's status badge (已废止 in red, with 被《…》废止 linking to the repealing document), and the
    sentences it rests on in its title, so a reader can check it; empty without a status."""
    st = hit.standing
    if not st.note:
        return ""
    why = _e("\n".join([st.summary, *st.evidence, *st.problems]), quote=True)
    status = st.status or "时效存疑"
    badge = (f'<span class="status-badge {STATUS_CLASS.get(st.status or "", "unclear")}" data-status="{_e(status, quote=True)}" '
             f'title="{why}">{_e(status)}</span>')
    if st.replaced_by is not None:
        link = st.replaced_by
        badge += (f'<span class="replaced-by">被<a class="replaced-by-link" href="api/documents/{_e(link.doc_id, quote=True)}" '
                  f'target="_blank">{_e(link.label)}</a>废止</span>')
    return badge


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
    meta.append(render_status(hit))
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


def render_links(params: SearchParams) -> str:
    """A link to this search (the page's own address) and its export; both relative, so they
    keep working when the app is served under a path prefix behind a proxy."""
    share, api = _e(params.share_query(), quote=True), _e(params.api_query(), quote=True)
    return (f'<div class="result-links"><a class="share-link" href="?{share}">本次检索的链接</a>'
            f'<a class="export-csv" href="api/ask.csv?{api}" download="policyqa-results.csv">导出 CSV</a></div>')


def render_answer(answer: Answer, docs: dict | None = None, params: SearchParams | None = None) -> str:
    """The whole results panel for one answer: notes, no-answer notice, groups or plain cards;
    with `params`, links to share and export this search."""
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
    if params is not None:
        out.append(render_links(params))
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
    elif answer.timeline:
        by_rank = {h.rank: h for h in answer.hits}
        out.append(f'<div class="groups-head">按年份（从早到晚）：'
                   f'{_e("、".join(str(y.year or "年份不详") for y in answer.timeline))}</div>')
        for y in answer.timeline:
            cards = [render_card(by_rank[r], terms, text_of(by_rank[r]), nearest) for r in y.ranks if r in by_rank]
            out.append(f'<div class="year-group" data-year="{y.year or ""}"><div class="year-group-head">{y.year or "年份不详"}'
                       f'<span class="count">{len(y.ranks)} 段</span></div>' + "".join(cards) + "</div>")
    else:
        label = f"最接近的 {len(answer.hits)} 个段落" if nearest else f"共 {len(answer.hits)} 条结果"
        out.append(f'<div class="summary">{label}</div>')
        out += [render_card(h, terms, text_of(h), nearest) for h in answer.hits]
    return _results("".join(out), answer.question)


PLACEHOLDER = _results(
    '<p class="placeholder">输入问题后按回车或点击“搜索”。结果会列出出处（文件、章节、字符位置），点击“原文”可查看整篇文档。</p>'
)


EMBEDDING_ROW = "向量嵌入"


def embedding_text(st: IndexStatus) -> str:
    """The 向量嵌入 row: passages still without vectors, and the running build's pace (status.embedding_line, in Chinese)."""
    text = f"{st.passages:,} 段中 {st.unembedded:,} 段尚未嵌入（暂时只按关键词检索）"
    e = st.embedding
    if e is None:
        return text + "；没有构建在运行：运行 policyqa build 完成嵌入"
    rate, left = e.rate, e.seconds_left
    if not rate:
        return text + f"；构建进程 {e.pid} 正在嵌入 {e.total:,} 段"
    return text + f"；构建进程 {e.pid} 已嵌入 {e.done:,}/{e.total:,} 段，每秒 {rate:.1f} 段，约 {max(1, round(left / 60))} 分钟完成"


def status_html(st: IndexStatus) -> str:
    """The 索引状态 panel: the same record `policyqa status` prints, in Chinese."""
    if st.problem:
        return f'<div class="index-status"><p class="error-msg">索引无法读取：{_e(st.problem)}</p></div>'
    if not st.built:
        return f'<div class="index-status"><p class="error-msg">没有索引：{_e(st.index_dir)}</p></div>'
    built = st.built_at or ""
    with contextlib.suppress(ValueError):
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.strptime(built, "%Y-%m-%dT%H:%M:%S%z"))
    rows = [
        ("模型", f"{st.model}（{st.dimension} 维，权重 {st.model_fingerprint}，编码 {st.encoder}）"),
        ("文档", f"{st.documents} 篇"),
        ("段落", f"{st.passages} 段"),
        ("最近构建", built),
        ("索引位置", f"{st.index_dir}（{st.generation}）"),
        ("文档文件夹", st.corpus_dir),
        ("分段", f"{len(st.segments)} 个，已删除待合并 {sum(x.tombstoned for x in st.segments)} 段"),
    ]
    if st.unembedded or st.embedding is not None:
        rows.append((EMBEDDING_ROW, embedding_text(st)))
    if st.damaged:
        rows.append(("损坏", "、".join(name for name, _ in st.damaged) + f"；修复：{st.rebuild}"))
    skipped = [src for src, _ in st.skipped]
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
    ("is kept", "同名文档已在文件夹中，原有文档保留"),
    ("does not look like text", "内容不像正常文字（可能是乱码或随机数据）"),
    ("(limit ", "超出读取上限，文件未读取"),
    ("too long to index", "文字过长，超出上限，请拆分成较小的文件"),
    ("file name is not valid UTF-8", "文件名不是有效的 UTF-8 编码，请重命名"),
    ("LibreOffice", "无法用 LibreOffice 转换，请另存为 .docx"),
    ("not a Word 97", "不是 Word 97–2003 或 WPS 文件"),
    ("cannot read", "文件已损坏或无法解析"),
]


def reason_zh(reason: str) -> str:
    """A Chinese reason for a skipped file, keeping the original detail (without the path)."""
    detail = reason.split(": ", 1)[1] if reason.startswith(("/", ".")) and ": " in reason else reason
    for key, zh in _REASONS:
        if key in reason:
            return f"{zh}（{detail}）"
    return f"无法读取（{detail}）"


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


def index_error(e: Exception) -> str:
    """What the page says when an index write or load failed."""
    if isinstance(e, BuildLocked):
        return "另一个索引任务正在进行，请稍后重试。"
    if isinstance(e, EmptyCorpus):
        return f"文档文件夹中没有可读取的文档，索引未改变。（{e}）"
    if isinstance(e, (IndexMissing, IndexMismatch)):
        return f"索引不可用：{e}"
    if isinstance(e, UpdateError):
        return f"操作失败：{e}"
    if isinstance(e, CannotWrite):
        return f"{'磁盘已满' if e.full else '无法写入'}，未做任何改动：{e}"
    if isinstance(e, PolicyQAError):
        return f"无法完成：{e}"
    return f"出错了（{type(e).__name__}: {e}）。请重试；若问题持续，请查看服务器日志。"
