"""The web UI: ask questions, read cited passages in their documents, manage the documents.

One `Searcher` per process holds the index and the model; it swaps in a newer index by itself
when an upload or a removal (or `policyqa build` from a shell) publishes one, so new documents
are searchable at once. The HTML comes from `ui/render.py` (pure functions, every piece of
document text escaped), the styles from `ui/style.css`; this module is the layout and the handlers.

Stable hooks for tests and styling:
  #question, #search-btn, #results          search box, button, results panel
  .results[data-stamp]                      one per response (the stamp changes on every answer)
  .result-card[data-rank][data-city]        one passage: .rank .title .city .year .doc-type .score
      .section .answer-span .passage (with mark.answer and span.term) .citation
      details.doc-toggle > summary (原文) > .doc-view > mark.doc-passage
  .city-group[data-city] > .city-group-head  grouped view for 哪些城市 questions
  .year-group[data-year] > .year-group-head  timeline view (历年/演变 questions), oldest first
  .status-badge[data-status] (.repealed .expired .not-yet .in-force) a.replaced-by   a passage's document status
  #filter-in-force                          the 只看现行有效 checkbox
  .notes, .no-answer, .nearest, .error-msg
  .result-links > a.share-link (this search as a link), a.export-csv (its rows as CSV, from /api/ask.csv)
  #share-query (hidden)                      the last search as ?q=…; written into the address bar
  #upload, #upload-btn, #upload-result (.upload-ok, .upload-skipped), #doc-table,
  #remove-source, #remove-btn, #remove-result, #index-status
"""

from __future__ import annotations

import html
import ipaddress
import logging
import socket
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

from policyqa.config import MAX_QUESTION_CHARS, Settings
from policyqa.corpus.loaders import SUPPORTED
from policyqa.errors import IndexMissing, PolicyQAError, PortInUse, QuestionError
from policyqa.index.build import build
from policyqa.index.status import embedding_now, format_status, gather
from policyqa.index.store import layout
from policyqa.index.update import remove_sources
from policyqa.qa.lifecycle import as_of_date
from policyqa.qa.search import MODES, Filters, Searcher
from policyqa.ui.api import create_api
from policyqa.ui.guard import LOOPBACK, hosts_for, protect
from policyqa.ui.links import DEFAULT_MODE, DEFAULT_TOP_K, SearchParams, from_share_query
from policyqa.ui.render import EMBEDDING_ROW, PLACEHOLDER, index_error, render_answer, render_error, status_html, upload_report
from policyqa.ui.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB, add_uploads, check_uploads

log = logging.getLogger("policyqa.ui")
_e = html.escape

ALL = "全部"
EXAMPLES = [
    "哪些城市设立了科技特派员工作站",
    "岳阳市2022年力争认定多少家高新技术企业",
    "荆州市2022年技术合同成交额是多少",
    "广水市如何优化科技创新环境",
    "大冶市下一步如何强化科技人才支撑",
]
MODE_CHOICES = [("混合检索（推荐）", "hybrid"), ("语义向量", "dense"), ("关键词 BM25", "bm25")]
UI_MAX_TOP_K = 20
STATUS_EVERY = 10  # seconds between looks at a build's embedding progress (the panel redraws only while one embeds)
# after each search: put it in the address bar, so the page's URL is a link to it (no reload, no history entry)
WRITE_ADDRESS_BAR = """(query) => {
  if (typeof query === "string") history.replaceState(history.state, "", location.pathname + (query ? "?" + query : ""));
  return [];
}"""
DOC_HEADERS = ["文件", "标题", "城市", "年份", "类型", "段落数", "时效（今天）"]
CSS = (Path(__file__).parent / "style.css").read_text(encoding="utf-8")

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
# Documents: metadata for the table, filters and status


def filter_choices(searcher: Searcher) -> tuple[list[str], list[str], list[str]]:
    docs = searcher.index.docs.values()
    cities = sorted({d.meta.city for d in docs if d.meta.city})
    years = sorted({y for d in docs for y in ([*(d.meta.years or []), d.meta.year]) if y})
    types = sorted({d.meta.doc_type for d in docs if d.meta.doc_type})
    return [ALL, *cities], [ALL, *map(str, years)], [ALL, *types]


def doc_rows(searcher: Searcher) -> list[list]:
    """One row per document; its status today, dates and version links in the last column."""
    catalog, today = searcher.catalog(), as_of_date(None)
    rows = []
    for d in sorted(searcher.index.docs.values(), key=lambda d: d.source):
        m = d.meta
        standing = catalog.standing(d.doc_id, today)
        rows.append([d.source, m.title, m.city or "", str(m.year or ""), m.doc_type, len(d.passages),
                     standing.note])
    return rows


# ------------------------------------------------------------------------------------------
# The app


class PolicyQABlocks(gr.Blocks):
    """gr.Blocks whose launch() applies this app's CSS and upload size limit unless told otherwise
    (Gradio 6 takes css at launch, and callers such as tests launch the Blocks directly)."""

    def launch(self, *args, **kwargs):
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("max_file_size", MAX_UPLOAD_BYTES)
        return super().launch(*args, **kwargs)


def _choice(value: str | None, choices: list[str]) -> str | None:
    """The dropdown choice a link's city means: itself, or the one it abbreviates (岳阳 → 岳阳市)."""
    if not value:
        return None
    if value in choices:
        return value
    return next((c for c in choices if c != ALL and c.startswith(value)), None)


READ_ONLY = ("此服务器为只读：上传和删除文档已关闭（服务开在本机以外的地址上）。"
             "需要时请用 policyqa serve --allow-writes 启动。")


def writes_allowed(host: str, allow_writes: bool) -> bool:
    """Whether the web UI may upload and remove: on this machine only (the default 127.0.0.1) or when
    `--allow-writes` says so, so a UI opened to a shared network cannot change the index by default."""
    if allow_writes:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def build_app(settings: Settings, searcher: Searcher | None = None, writes: bool = True) -> gr.Blocks:
    """The Gradio app over the index in `settings.index_dir` (raises IndexMissing without one).

    `writes` False: no upload or remove, in the page or through Gradio's event queue."""
    searcher = searcher or searcher_for(settings)
    cities, years, types = filter_choices(searcher)

    def search(params: SearchParams) -> tuple[str, str]:
        """The results panel and the share query (for the address bar) of one search."""
        try:
            filters = Filters(city=params.city, year=params.year, doc_type=params.doc_type, in_force=params.in_force,
                              timeline=params.timeline)
            answer = searcher.ask(params.question, top_k=params.top_k, mode=params.mode, filters=filters)
            params = replace(params, question=answer.question)  # as asked: cleaned of what cannot be sent (a lone surrogate)
            return render_answer(answer, searcher.index.docs, params), params.share_query()
        except QuestionError as e:
            return render_error(str(e)), ""
        except PolicyQAError as e:
            return render_error(index_error(e)), ""
        except Exception as e:
            log.exception("search failed")
            return render_error(f"检索出错（{type(e).__name__}: {e}）。请重试；若问题持续，请查看服务器日志。"), ""

    def on_search(question, city, year, doc_type, mode, top_k, in_force=False):
        return search(SearchParams(
            in_force=bool(in_force),
            question=(question or "").strip(),
            city=None if city in (None, "", ALL) else city,
            year=None if year in (None, "", ALL) else int(year),
            doc_type=None if doc_type in (None, "", ALL) else doc_type,
            mode=mode or DEFAULT_MODE,
            top_k=int(top_k or DEFAULT_TOP_K),
        ))

    def on_load(request: gr.Request):
        """Fill the page; with a shared link (?q=…&city=…&year=…&mode=…), show and run that search."""
        params = from_share_query(request.query_params if request is not None else {})
        if params is None:
            return (*refresh(), gr.update(), gr.update(), gr.update(), gr.update(), gr.update())
        try:
            c, y, t = filter_choices(searcher)
        except Exception as e:  # no usable index: the panels say so (refresh), the results too
            return (*refresh(), params.question, gr.update(), gr.update(), params.in_force, render_error(index_error(e)))
        city, unknown = _choice(params.city, c), []
        if params.city and city is None:
            unknown.append(f"城市“{params.city}”")
        if params.year and str(params.year) not in y:
            unknown.append(f"年份“{params.year}”")
        if params.doc_type and params.doc_type not in t:
            unknown.append(f"文档类型“{params.doc_type}”")
        params = replace(params, city=city, top_k=min(params.top_k, UI_MAX_TOP_K))
        shown = (*refresh(city or ALL, str(params.year or ALL), params.doc_type or ALL),
                 params.question, params.mode if params.mode in MODES else gr.update(), params.top_k, params.in_force)
        if unknown:  # say so rather than run a different search than the link describes
            return (*shown, render_error(f"链接中的筛选条件在索引中没有：{'、'.join(unknown)}。请在下拉列表中选择后再搜索。"))
        return (*shown, search(params)[0])

    def _status() -> tuple[str, str]:
        st = gather(settings)
        return status_html(st), format_status(st)

    def _status_tick(shown: str):
        """Every STATUS_EVERY seconds: the panel again while a build embeds (and once after it stops)."""
        if not embedding_now(settings.index_dir) and EMBEDDING_ROW not in shown:
            return gr.skip(), gr.skip()
        return _status()

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
                    rows, gr.update(choices=sources, value=None), f'<p class="error-msg">{_e(index_error(e))}</p>', "")
        keep = lambda v, choices: v if v in choices else ALL
        return (
            gr.update(choices=c, value=keep(city, c)),
            gr.update(choices=y, value=keep(year, y)),
            gr.update(choices=t, value=keep(doc_type, t)),
            rows,
            gr.update(choices=sources, value=None),
            *_status(),
        )

    def on_upload(files, city, year, doc_type, progress=gr.Progress()):
        if not writes:
            return f'<p class="upload-skipped">{_e(READ_ONLY)}</p>', None, *refresh(city, year, doc_type)
        paths = [Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in (files or [])]
        if not paths:
            return ('<p class="upload-skipped">请先选择要上传的文件。</p>', gr.update(), *refresh(city, year, doc_type))
        progress(0.2, desc=f"正在复制并索引 {len(paths)} 个文件（解析、切分、向量化）…")
        try:
            outcome = add_uploads(settings, paths)
        except Exception as e:
            if not isinstance(e, PolicyQAError):  # a user's error is shown; anything else is a bug
                log.exception("upload failed")
            msg = f'<p class="upload-skipped">{_e(index_error(e))}</p>' + upload_report(None, [], check_uploads(paths)[1], [])
            return msg, None, *refresh(city, year, doc_type)
        if outcome.report is not None:
            progress(0.95, desc="刷新…")
            searcher.index  # noqa: B018  (load the new generation now, not on the next question)
        return upload_report(outcome.report, outcome.names, outcome.rejected, outcome.removed), None, *refresh(city, year, doc_type)

    def on_remove(source, city, year, doc_type, progress=gr.Progress()):
        if not writes:
            return f'<p class="upload-skipped">{_e(READ_ONLY)}</p>', *refresh(city, year, doc_type)
        if not source:
            return '<p class="upload-skipped">请先在列表中选择要删除的文档。</p>', *refresh(city, year, doc_type)
        if len(searcher.index.docs) <= 1:
            return '<p class="upload-skipped">这是索引中唯一的文档，不能删除。</p>', *refresh(city, year, doc_type)
        progress(0.2, desc="删除并更新索引…")
        try:
            report = remove_sources(settings, [source], progress=False)
        except Exception as e:
            if not isinstance(e, PolicyQAError):
                log.exception("remove failed")
            return f'<p class="upload-skipped">{_e(index_error(e))}</p>', *refresh(city, year, doc_type)
        searcher.index  # noqa: B018
        msg = (f'<p class="upload-ok">已删除：{_e(source)}（文件已移到文档文件夹的 .removed/ 中，可以找回）。'
               f"索引现有 {report.documents} 篇文档。</p>")
        return msg, *refresh(city, year, doc_type)

    status0 = _status()
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
                    in_force_cb = gr.Checkbox(False, label="只看现行有效", elem_id="filter-in-force",
                                              info="排除已废止、已失效、尚未施行的文件（按今天）")
                with gr.Accordion("高级选项", open=False, elem_id="advanced"), gr.Row():
                    mode = gr.Radio(MODE_CHOICES, value="hybrid", label="检索方式", elem_id="mode")
                    top_k = gr.Slider(1, UI_MAX_TOP_K, value=DEFAULT_TOP_K, step=1, label="返回段落数（top-k）", elem_id="top-k")
                gr.Examples(EXAMPLES, inputs=[question], label="示例问题（点击填入）", elem_id="examples")
                results = gr.HTML(PLACEHOLDER, elem_id="results", js_on_load=None)
                share = gr.Textbox("", visible=False, elem_id="share-query")  # this search as ?q=…, for the address bar
            with gr.Tab("文档管理", id="docs-tab"):
                gr.Markdown("### 已索引的文档")
                table = gr.Dataframe(doc_rows(searcher), headers=DOC_HEADERS, interactive=False, wrap=True,
                                     column_widths=["22%", "26%", "8%", "6%", "9%", "7%", "22%"], elem_id="doc-table")
                with gr.Row():
                    with gr.Column(scale=3, visible=writes):
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
                    if not writes:
                        gr.Markdown(READ_ONLY, elem_id="read-only")
                    with gr.Column(scale=2):
                        gr.Markdown("### 索引状态")
                        status_panel = gr.HTML(status0[0], elem_id="index-status", js_on_load=None)
                        with gr.Accordion("详细状态（policyqa status）", open=False):
                            status_raw = gr.Textbox(status0[1], show_label=False, lines=12, interactive=False,
                                                    elem_id="status-raw")
                        gr.Timer(STATUS_EVERY).tick(_status_tick, inputs=[status_panel], outputs=[status_panel, status_raw],
                                                    show_progress="hidden", api_visibility="private")

        filters = [city_dd, year_dd, type_dd]
        refreshed = [city_dd, year_dd, type_dd, table, remove_dd, status_panel, status_raw]
        gr.on([question.submit, search_btn.click], on_search, inputs=[question, *filters, mode, top_k, in_force_cb],
              outputs=[results, share], concurrency_limit=4, show_progress="minimal", api_visibility="private",
              ).then(None, inputs=[share], js=WRITE_ADDRESS_BAR)
        upload_btn.click(on_upload, inputs=[upload, *filters], outputs=[upload_result, upload, *refreshed],
                         concurrency_limit=1, concurrency_id="index-write", show_progress_on=[upload_result],
                         api_visibility="private")
        remove_btn.click(on_remove, inputs=[remove_dd, *filters], outputs=[remove_result, *refreshed],
                         concurrency_limit=1, concurrency_id="index-write", show_progress_on=[remove_result],
                         api_visibility="private")
        demo.load(on_load, inputs=None, outputs=[*refreshed, question, mode, top_k, in_force_cb, results], show_progress="hidden",
                  api_visibility="private")
    return demo


def create_app(settings: Settings, searcher: Searcher | None = None, allow_writes: bool = False,
               ui_writes: bool = True, hosts: Iterable[str] = LOOPBACK, cors_origins: Iterable[str] = ()) -> FastAPI:
    """What `policyqa serve` serves: the JSON API under /api (docs at /docs; writes only with
    `allow_writes`) and the UI at / (uploads and removal with `ui_writes`), answering only the Host
    names in `hosts`, writes only from its own pages, and CORS only for `cors_origins` (ui/guard.py)."""
    searcher = searcher or searcher_for(settings)
    app = create_api(settings, searcher, allow_writes=allow_writes)
    app = gr.mount_gradio_app(app, build_app(settings, searcher, writes=ui_writes), path="/", css=CSS, max_file_size=MAX_UPLOAD_BYTES,
                              show_error=False, footer_links=["gradio", "settings"])
    return protect(app, hosts, cors_origins)



def _check_port(host: str, port: int) -> None:
    """Fail before the model loads, with the fix, rather than after it with uvicorn's log line."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        why = (e.strerror or str(e)).split(" (")[0]
        raise PortInUse(f"cannot listen on {host}:{port}: {why}; "
                        f"stop the server using it or choose another port: policyqa serve --port {port + 1}") from None


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, build_if_missing: bool = False,
          allow_writes: bool = False, allowed_hosts: Iterable[str] = (), cors_origins: Iterable[str] = ()) -> None:
    """Load the index and model once and serve the UI and the API on host:port until interrupted.

    `allowed_hosts` (--allowed-host): Host names to answer besides this machine's (a reverse proxy's name)."""
    hosts = hosts_for(host, allowed_hosts)
    _check_port(host, port)
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
    ui_writes = writes_allowed(host, allow_writes)
    app = create_app(settings, searcher, allow_writes=allow_writes, ui_writes=ui_writes, hosts=hosts, cors_origins=cors_origins)
    print(f"policyqa UI on http://{host}:{port}/ , API docs on http://{host}:{port}/docs "
          f"(index {settings.index_dir}, {len(searcher.index.docs)} documents; "
          f"writes through the API {'allowed' if allow_writes else 'off (--allow-writes turns them on)'}, "
          f"through the UI {'allowed' if ui_writes else 'off (not on this machine only; --allow-writes turns them on)'})",
          flush=True)
    print(f"answering requests for host {', '.join(hosts)} (a proxy's name: --allowed-host NAME); "
          f"CORS {'for ' + ', '.join(cors_origins) if cors_origins else 'off (--cors-origin URL turns it on)'}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
