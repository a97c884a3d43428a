"""Status on a date, repeals resolved among indexed documents, 文号 lookup and timelines (qa/lifecycle.py,
qa/timeline.py), over the metadata of the lifecycle evaluation's real files; no index or model needed."""

from __future__ import annotations

import pytest

from policyqa.corpus.loaders import load
from policyqa.corpus.metadata import extract
from policyqa.errors import QuestionError
from policyqa.eval.lifecycle import DOCUMENTS
from policyqa.qa.lifecycle import Catalog, as_of_date
from policyqa.qa.timeline import group_by_year, wants_timeline
from policyqa.qa.types import Hit

OLD, NEW = "荆州-科技特派员管理办法-2019.txt", "荆州-科技特派员管理办法-2023.txt"
AWARD, MEASURES = "荆州-科技成果转化奖励办法-2020.txt", "荆州-促进科技成果转化若干措施-2021.txt"


def metas(*names: str) -> list:
    files = [DOCUMENTS / n for n in names] if names else sorted(DOCUMENTS.glob("*.txt"))
    return [(f.name, extract(load(f), f.name)) for f in files]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(metas())


@pytest.mark.parametrize("on,old,new", [
    ("2019-03-20", "尚未施行", "尚未施行"),
    ("2020-07-01", "现行有效", "尚未施行"),
    ("2023-06-30", "现行有效", "尚未施行"),  # the day before the new version takes effect
    ("2023-07-01", "已废止", "现行有效"),
    ("2030-01-01", "已废止", "现行有效"),  # past its 5 years too: repealed says more
])
def test_a_new_version_repeals_the_old_from_the_day_it_takes_effect(catalog, on, old, new):
    assert (catalog.status(OLD, on), catalog.status(NEW, on)) == (old, new)


def test_a_repealed_document_names_its_repealer_and_the_sentence(catalog):
    st = catalog.standing(OLD, "2024-01-01")
    assert st.replaced_by.doc_id == NEW and st.replaced_by.doc_number == "荆政发〔2023〕12号"
    assert "《荆州市科技特派员管理办法》（荆政发〔2019〕3号）同时废止。" in st.evidence
    assert (st.effective, st.expires) == ("2019-04-01", "2024-03-31")
    assert [x.doc_id for x in catalog.standing(NEW, "2024-01-01").replaces] == [OLD]
    assert st.badge.startswith("【已废止：被《")


def test_expired_and_trial_periods(catalog):
    voucher = "荆州-科技创新券实施细则-2021.txt"  # 自印发之日起施行，试行期2年 (issued 2021-05-10)
    assert catalog.status(voucher, "2023-05-09") == "现行有效"
    assert catalog.status(voucher, "2023-05-10") == "已失效"


def test_a_report_has_no_status(catalog):
    assert catalog.status("荆州-2023年科技工作总结.txt", "2024-01-01") is None


def test_two_documents_repealing_each_other_the_later_one_stands(catalog):
    assert catalog.status(AWARD, "2020-07-01") == "现行有效"  # the other is not in effect yet
    assert catalog.status(AWARD, "2022-01-01") == "已废止"
    assert catalog.status(MEASURES, "2022-01-01") == "现行有效"
    assert any("互相废止" in p for p in catalog.standing(MEASURES, "2022-01-01").problems)


def test_a_repeal_of_a_document_not_in_the_index_is_kept_as_text(catalog):
    st = catalog.standing("荆州-科技企业孵化器管理办法-2024.txt", "2024-06-01")
    assert st.status == "现行有效" and st.unresolved == ["《荆州市众创空间管理暂行办法》"] and st.replaces == []


def test_a_date_that_does_not_exist_gives_no_status_and_says_why(catalog):
    st = catalog.standing("荆州-科技型中小企业评价补助办法-2022.txt", "2024-01-01")
    assert st.status is None and "2022年2月30日不存在" in st.problems[0] and st.note


def test_an_end_before_the_start_is_not_used(catalog):
    st = catalog.standing("荆州-研发费用补助办法-2023.txt", "2024-01-01")
    assert st.status == "现行有效" and st.expires is None and "早于施行日期" in st.problems[0]


def test_a_repealer_added_later_is_found_without_rereading_the_old_document():
    assert Catalog(metas(OLD)).status(OLD, "2023-08-01") == "现行有效"
    assert Catalog(metas(OLD, NEW)).status(OLD, "2023-08-01") == "已废止"


@pytest.mark.parametrize("question", ["荆科发〔2022〕15号", "荆科发［２０２２］１５号是什么文件", "请问荆科发（2022）15号规定了什么"])
def test_a_number_written_three_ways_finds_its_document(catalog, question):
    assert catalog.find_numbered(question) == ["荆州-科技计划项目管理办法-2022.txt"]  # the file writes 荆科发(2022)15号


def test_a_number_not_indexed_finds_nothing(catalog):
    assert catalog.find_numbered("荆科发〔2022〕16号") == [] and catalog.find_numbered("科技特派员") == []


def test_in_force_keeps_reports_and_drops_repealed_expired_and_not_yet(catalog):
    on = "2025-06-01"
    kept = {d for d, _ in metas() if catalog.in_force(d, on)}
    assert "荆州-2023年科技工作总结.txt" in kept and NEW in kept
    assert not kept & {OLD, AWARD, "荆州-高新技术企业培育奖励办法-2022.txt", "荆州-科技创新券实施细则-2021.txt"}


def test_as_of_today_or_a_real_date_else_a_clear_error():
    assert as_of_date("２０２４-０１-３１") == "2024-01-31" and len(as_of_date(None)) == 10
    with pytest.raises(QuestionError, match="YYYY-MM-DD"):
        as_of_date("2023-02-30")


def _hit(rank: int, year: int | None) -> Hit:
    return Hit(rank=rank, score=1.0 / rank, pid=rank, doc_id=str(year), source="a", title="t", city=None, year=year,
               doc_type="其他", section="t", start=0, end=1, text="x")


def test_timeline_groups_by_year_oldest_first_undated_last_relevance_within_a_year():
    groups, hits = group_by_year([_hit(1, 2023), _hit(2, None), _hit(3, 2019), _hit(4, 2023)])
    assert [(g.year, g.ranks) for g in groups] == [(2019, [1]), (2023, [2, 3]), (None, [4])]
    assert [h.pid for h in hits] == [3, 1, 4, 2]
    assert wants_timeline("科技特派员政策历年有哪些变化") and not wants_timeline("科技特派员补助多少")


def test_a_repeal_stays_when_the_repealing_document_later_expires():
    from policyqa.corpus.types import Dated, DocMeta, Lifecycle, Reference

    old = DocMeta(title="旧办法", doc_number="荆政发〔2018〕1号", lifecycle=Lifecycle(effective=Dated("2018-01-01", "s")))
    new = DocMeta(title="新办法", doc_number="荆政发〔2020〕2号", lifecycle=Lifecycle(
        effective=Dated("2020-01-01", "s"), expires=Dated("2022-12-31", "有效期至2022年12月31日。"),
        references=[Reference("废止", "旧办法", "荆政发〔2018〕1号", "《旧办法》同时废止。")]))
    catalog = Catalog([("old", old), ("new", new)])
    assert [catalog.status("old", d) for d in ("2019-06-01", "2021-06-01", "2024-06-01")] == ["现行有效", "已废止", "已废止"]
    assert catalog.status("new", "2024-06-01") == "已失效"
