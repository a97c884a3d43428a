"""The results HTML, without a browser or a model: escaping, highlighting, grouping, no-answer."""

from __future__ import annotations

from pathlib import Path

from policyqa.qa.types import Answer, Group, Hit, Link, Standing, YearGroup
from policyqa.ui.render import markup, reason_zh, render_answer, render_error
from policyqa.ui.uploads import check_uploads

DOC = "标题\n一、<b>总则</b> & 说明。开展科技特派员工作站建设试点，首批建站29家。其他内容。"


def _hit(rank=1, city="荆州市", text=None, year=2022, **kw) -> Hit:
    start = DOC.index("开展")
    end = len(DOC)
    a0, a1 = start, DOC.index("其他")
    return Hit(rank=rank, score=0.5, pid=0, doc_id="d1", source="荆州-x.txt", title="荆州<测试>", city=city, year=year,
               doc_type="新闻报道", section="荆州<测试> > 一、总则", start=start, end=end, text=text or DOC[start:end],
               answer=DOC[a0:a1], answer_start=a0, answer_end=a1, **kw)


class _Doc:
    text = DOC


def test_markup_escapes_and_nests():
    out = markup("a<b>c&d", [(1, 4, "<mark>", "</mark>")], ["c&d"])
    assert out == "a<mark>&lt;b&gt;</mark><span class=\"term\">c&amp;d</span>"
    # a term that straddles the range boundary is split, tags stay balanced
    out = markup("科技特派员", [(0, 2, "<mark>", "</mark>")], ["科技特派员"])
    assert out.count("<mark>") == out.count("</mark>") == 1
    assert out.count('<span class="term">') == out.count("</span>") == 2


def test_card_escapes_document_text_and_marks_answer():
    html = render_answer(Answer(question="科技特派员工作站", hits=[_hit()], mode="hybrid"), {"d1": _Doc()})
    assert "<b>总则</b>" not in html and "&lt;b&gt;总则&lt;/b&gt;" in html
    assert "《荆州&lt;测试&gt;》" in html
    assert '<mark class="answer">' in html and '<span class="term">科技特派员工作站</span>' in html
    assert 'class="doc-view"' in html and '<mark class="doc-passage"' in html
    assert 'class="citation"' in html and "第" in html


def test_groups_and_no_answer():
    hits = [_hit(1), _hit(2, city="岳阳市")]
    ans = Answer(question="哪些城市设立了科技特派员工作站", hits=hits, mode="hybrid",
                 groups=[Group("荆州市", [1]), Group("岳阳市", [2])])
    html = render_answer(ans, {"d1": _Doc()})
    assert html.count('class="city-group"') == 2 and "2 个地方" in html
    html = render_answer(Answer(question="火星", hits=hits, mode="hybrid", found=False), {})
    assert "未找到相关内容" in html and html.count("result-card nearest") == 2
    html = render_answer(Answer(question="火星", hits=[], mode="hybrid", found=False), {})
    assert 'class="no-answer"' in html and "result-card" not in html


def test_error_is_escaped():
    assert "&lt;script&gt;" in render_error("<script>")


def test_upload_checks(tmp_path: Path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2048)
    ok_file = tmp_path / "ok.txt"
    ok_file.write_text("科技", encoding="utf-8")
    exe = tmp_path / "a.exe"
    exe.write_bytes(b"MZ")
    ok, rejected = check_uploads([big, ok_file, exe], max_bytes=1024)
    assert ok == [ok_file]
    reasons = dict(rejected)
    assert "文件过大" in reasons["big.txt"] and "不支持的文件类型" in reasons["a.exe"]
    assert reason_zh("/tmp/x.txt: file is empty; remove it or add text").startswith("文件为空")


def test_status_text_and_panel_come_from_one_record(seed_settings, tmp_path: Path):
    from policyqa.index.status import format_status, gather
    from policyqa.ui.render import status_html

    st = gather(seed_settings)
    assert st.built and st.documents == 5 and st.passages > 0 and not st.pending
    text, panel = format_status(st), status_html(st)
    assert f"documents:  {st.documents}" in text and f"passages:   {st.passages}" in text
    assert f"{st.documents} 篇" in panel and f"{st.passages} 段" in panel and st.model in panel
    missing = gather(seed_settings.with_(index_dir=tmp_path / "none"))
    assert "no index in" in format_status(missing) and "没有索引" in status_html(missing)


def test_a_repealed_document_shows_a_red_badge_linking_its_repealer_with_the_sentences():
    st = Standing("已废止", "2024-01-01", "2019-04-01", replaced_by=Link("new\"id", "新<办法>", "荆政发〔2023〕12号"),
                  evidence=["《旧办法》同时废止。"])
    html = render_answer(Answer(question="科技特派员", hits=[_hit(standing=st)], mode="hybrid"), {"d1": _Doc()})
    assert '<span class="status-badge repealed" data-status="已废止"' in html
    assert 'href="api/documents/new&quot;id"' in html and "新&lt;办法&gt;" in html and "《旧办法》同时废止。" in html
    plain = render_answer(Answer(question="科技特派员", hits=[_hit()], mode="hybrid"), {"d1": _Doc()})
    assert "status-badge" not in plain  # a document that says nothing about its validity has no badge


def test_timeline_view_lists_years_oldest_first():
    hits = [_hit(rank=1, year=2019), _hit(rank=2, year=2023)]
    html = render_answer(Answer(question="历年变化", hits=hits, mode="hybrid",
                                timeline=[YearGroup(2019, [1]), YearGroup(2023, [2])]), {"d1": _Doc()})
    assert html.index('data-year="2019"') < html.index('data-year="2023"')


def test_the_status_panel_shows_how_far_embedding_has_come():
    """One record, two renderings: passages still without vectors, the running build's pace and time left."""
    from policyqa.index.progress import Progress
    from policyqa.index.status import IndexStatus, format_status
    from policyqa.ui.render import status_html

    st = IndexStatus(index_dir="var/index", corpus_dir="documents", built=True, documents=29_650, passages=107_240,
                     unembedded=12_400, embedding=Progress(pid=4121, started=1000.0, total=15_500, done=3_100, updated=1220.0))
    text, panel = format_status(st), status_html(st)
    assert "12,400 of 107,240 passages still embedding" in text and "14.1 passages/s" in text and "15 min left" in text
    assert "107,240 段中 12,400 段尚未嵌入" in panel and "每秒 14.1 段" in panel and "约 15 分钟完成" in panel
    assert round(st.to_json()["embedding"]["seconds_left"]) == round(12_400 / (3_100 / 220))
    stopped = IndexStatus(index_dir="var/index", corpus_dir="documents", built=True, passages=100, unembedded=40)
    assert "no build is running: run policyqa build --index var/index to finish" in format_status(stopped)
    assert "没有构建在运行" in status_html(stopped)
    done = IndexStatus(index_dir="var/index", corpus_dir="documents", built=True, passages=100)
    assert "embedding:" not in format_status(done) and "向量嵌入" not in status_html(done)
