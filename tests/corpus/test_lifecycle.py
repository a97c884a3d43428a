"""What a document says about its own life, read from its text (corpus/lifecycle.py), bad input included."""

from __future__ import annotations

import json

import pytest

from policyqa.corpus.lifecycle import normalize_doc_number, read_lifecycle
from policyqa.corpus.loaders import load
from policyqa.corpus.metadata import extract
from policyqa.corpus.types import DocMeta
from policyqa.eval.lifecycle import DOCUMENTS
from tests.support.seeds import CITY_OF_SEED, seed_file


@pytest.mark.parametrize("sentence,issued,effective", [
    ("本办法自2022年1月1日起施行。", None, "2022-01-01"),
    ("本规定自2022年3月15日起执行。", None, "2022-03-15"),
    ("本方案从２０２２年３月１日开始实施。", None, "2022-03-01"),  # full-width digits
    ("本通知自印发之日起施行。", "2021-06-01", "2021-06-01"),  # its own date
    ("本意见自发布之日起实施。", "2020-02-02", "2020-02-02"),
])
def test_effective_date_in_each_form_with_its_sentence(sentence, issued, effective):
    lc = read_lifecycle("第一条 为规范管理，制定本办法。\n" + sentence, issued=issued)
    assert lc.effective.date == effective and lc.effective.sentence == sentence


@pytest.mark.parametrize("text,expires,trial", [
    ("本办法自2022年1月1日起施行，有效期5年。", "2026-12-31", False),  # counted from the effective date
    ("本办法自2022年1月1日起施行，有效期至2025年12月31日。", "2025-12-31", False),
    ("本细则自2021年5月10日起施行，试行期2年。", "2023-05-09", True),
    ("本办法有效期自2020年1月1日至2024年12月31日止。", "2024-12-31", False),
    ("本办法自2024年2月29日起施行，有效期一年。", "2025-02-28", False),  # no 2025-02-29
])
def test_end_of_validity(text, expires, trial):
    lc = read_lifecycle(text)
    assert lc.expires.date == expires and lc.expires.sentence == text and lc.trial is trial


def test_repeal_names_the_document_by_title_and_number_in_one_spelling():
    lc = read_lifecycle("本办法自2023年7月1日起施行。《荆州市科技特派员管理办法》（荆政发[2019]３号）同时废止。")
    (ref,) = lc.references
    assert (ref.action, ref.title, ref.doc_number) == ("废止", "荆州市科技特派员管理办法", "荆政发〔2019〕3号")
    assert ref.sentence == "《荆州市科技特派员管理办法》（荆政发[2019]３号）同时废止。"


def test_no_longer_applied_and_revisions_are_references_but_a_cited_revision_is_not():
    repealed = read_lifecycle("原《关于众创空间的通知》不再执行。")
    assert [(r.action, r.title) for r in repealed.references] == [("废止", "关于众创空间的通知")]
    revised = read_lifecycle("现对《荆州市科技计划管理办法》（荆科发〔2019〕2号）进行修订，自2024年1月1日起施行。")
    assert [(r.action, r.doc_number) for r in revised.references] == [("修订", "荆科发〔2019〕2号")]
    assert read_lifecycle("贯彻落实新修订的《中华人民共和国科技进步法》。") is None  # cites a revision, revises nothing


def test_another_documents_start_is_not_this_ones():
    lc = read_lifecycle("《湖北省科技进步条例》自2020年1月1日起施行，我市认真贯彻。")
    assert lc is None


def test_a_date_that_does_not_exist_is_kept_with_its_sentence_and_not_used():
    lc = read_lifecycle("本办法自2022年2月30日起施行。")
    assert lc.effective.date is None and "2022年2月30日不存在" in lc.effective.note
    assert lc.problems == ["本办法自2022年2月30日起施行。：2022年2月30日不存在，未采用"]


def test_an_end_before_the_start_is_not_used_and_says_why():
    lc = read_lifecycle("本办法自2023年3月1日起施行，有效期至2022年12月31日。")
    assert lc.effective.date == "2023-03-01" and lc.expires.date is None
    assert "早于施行日期2023-03-01" in lc.expires.note and lc.problems


def test_a_period_without_a_start_is_kept_unresolved():
    lc = read_lifecycle("本办法有效期3年。")
    assert lc.expires.date is None and "无法推算" in lc.expires.note


def test_one_number_written_three_ways_is_one_key():
    spellings = ("荆科发〔2022〕15号", "荆科发［２０２２］１５号", "荆科发 (2022) 15号")
    assert {normalize_doc_number(n) for n in spellings} == {"荆科发〔2022〕15号"}


@pytest.mark.parametrize("short", sorted(CITY_OF_SEED))
def test_the_seed_reports_say_nothing_about_their_validity(short):
    assert extract(load(seed_file(short)), "x.txt").lifecycle is None


def test_metadata_of_a_file_carries_its_lifecycle_and_survives_the_catalogue():
    meta = extract(load(DOCUMENTS / "荆州-科技特派员管理办法-2023.txt"), "x.txt")
    assert meta.doc_number == "荆政发〔2023〕12号" and meta.lifecycle.effective.date == "2023-07-01"
    stored = json.loads(json.dumps(meta.to_dict(), ensure_ascii=False))  # as the index stores it
    assert DocMeta(**stored) == meta


def test_metadata_stored_before_lifecycles_existed_opens_without_one():
    stored = extract(load(seed_file("咸宁")), "x.txt").to_dict()
    stored.pop("lifecycle")
    assert DocMeta(**stored).lifecycle is None


def test_the_closing_statement_of_a_long_document_is_found():
    body = "".join(f"第{i}条 各部门要认真组织实施，自2020年{i % 12 + 1}月1日起执行本条规定的第{i}项措施，至2025年12月31日止完成。\n"
                   for i in range(1, 2000))
    lc = read_lifecycle("荆州市科技项目管理办法\n" + body + "本办法自2023年5月1日起施行，有效期3年。")
    assert lc.effective.date == "2023-05-01" and lc.expires.date == "2026-04-30"
