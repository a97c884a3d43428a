"""What kind of phrase a question asks for decides what answers it and when to refuse."""

from __future__ import annotations

import pytest

from policyqa.qa.answer import answer_span, phrase_kind


@pytest.mark.parametrize("question, kind", [
    ("荆州2022年技术合同成交额是多少", "money"),
    ("对新认定的高新技术企业奖励多少钱", "money"),
    ("单户企业最高能贷多少", "money"),
    ("大冶实际发放了多少企业科技金融贷款", "money"),
    ("为多少家企业提供了贷款", "count"),
    ("咸宁2021年研发投入强度目标是多少", "number"),  # a rate of an amount is a percentage
    ("企业拿专利借到的钱比上年多多少", "number"),  # a change may be a percentage
    ("贷款支持了多少家企业", "count"),
    ("项目花了多少天", "number"),
    ("花园面积有多少", "number"),
    ("借了多少钱", "money"),
    ("要点是哪一天发布的", "day"),
    ("要点是什么时候发布的", "date"),
    ("有多少个球队参加", "number"),  # 个 is every noun's classifier: 13队 answers it
])
def test_kind_of_phrase_asked(question, kind):
    assert phrase_kind(question) == kind


def test_count_is_given_in_the_unit_asked_or_a_near_one():
    sentence = "选派科技特派员240人,建成星创天地5家"
    assert answer_span(sentence, "选派了多少名科技特派员", ["科技特派员"]) == "240人"
    assert answer_span(sentence, "申请了多少件专利", ["专利"]) is None


def test_money_in_other_currencies_and_with_separators():
    assert answer_span("每名奖金为 NT$25,000。", "奖金是多少", ["奖金"]) == "NT$25,000"
    assert answer_span("婚礼耗资5亿日圆", "婚礼耗资多少日圆", ["婚礼"]) == "5亿日圆"


def test_phrase_already_in_the_question_is_not_the_answer():
    sentence = "大力实施“岳阳人才新政45条”"
    assert answer_span(sentence, "“人才新政45条”给博士的安家补贴是多少", ["人才", "新政"]) is None
