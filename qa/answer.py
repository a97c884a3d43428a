"""Extractive answers: the sentence in a passage that answers, and the exact phrase.

Nothing is generated: the answer is a span of the document, with its offsets. The sentence
is the one sharing the most informative question terms (IDF-weighted, synonyms included);
the phrase is the number, date, 文号, organisation or name in it closest to those terms, of the
unit the question asks for (多少家 → "166家").
"""

from __future__ import annotations

import re

from corpus.places import lookup
from corpus.sections import sentence_spans
from index.lexical import tokenize

_UNITS = "家|个|项|人|人次|名|场|场次|次|所|批|条|件|台|亿元|万元|元|亿|万|千|%|％|倍|平方米|亩|吨|户|篇|座|支|团队|年"
_NUMBER = re.compile(rf"(?:\d+(?:\.\d+)?|[一二三四五六七八九十百千万两]+)(?:余|多)?(?:{_UNITS})(?:以上|左右)?|\d+(?:\.\d+)?\s*[%％]")
_DOC_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,10}[〔\[［【(（]\s*(?:19|20)\d{2}\s*[〕\]］】)）]\s*\d{1,4}\s*号")
_DATE = re.compile(r"(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?|(?:19|20)\d{2}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}日")
_NAME = re.compile(r"《[^》]{2,40}》|“[^”]{2,30}”")
_ASKED_UNIT = re.compile(rf"(?:多少|几)\s*({_UNITS})")
_ORG_SUFFIX = "学院|大学|研究院|研究所|委员会|公司|集团|银行|协会|实验室"
_ORG = re.compile(rf"(?:[\u4e00-\u9fff]{{2,14}}?(?:{_ORG_SUFFIX}))(?:[、和及与](?:[\u4e00-\u9fff]{{2,14}}?(?:{_ORG_SUFFIX})))*")
_ORG_LEAD = re.compile(r"^(?:推动|推进|联合|依托|携手|积极|主动|与|和|同|由|向|对|在|跟)+")
_ASKS_ORG = re.compile(r"哪(?:家|个|两|几|些)?(?:所|家|个)?(?:单位|高校|大学|学院|机构|公司|银行|部门)|谁提出")


def has_quantity(sentence: str) -> bool:
    """Whether the sentence states an amount (a number with its unit, or a percentage)."""
    return bool(_candidates(_NUMBER, sentence))


def asked_pattern(question: str) -> re.Pattern:
    """What kind of phrase the question wants: a 文号, a date, an organisation, a name, or a quantity."""
    if "文号" in question:
        return _DOC_NUMBER
    if re.search(r"何时|什么时候|哪天|哪年|日期|时间", question):
        return _DATE
    if _ASKS_ORG.search(question):
        return _ORG
    if re.search(r"叫什么|名称|哪家|什么平台|什么品牌|什么活动", question):
        return _NAME
    return _NUMBER


def _candidates(pattern: re.Pattern, sentence: str) -> list[tuple[int, str]]:
    cands = [(m.start(), m.group(0)) for m in pattern.finditer(sentence)]
    if pattern is _NUMBER:  # a bare year is a date, not the quantity asked for
        cands = [(p, c) for p, c in cands if not re.fullmatch(r"(?:19|20)\d{2}年", c)]
    if pattern is _ORG:
        cands = [(p + len(c) - len(_ORG_LEAD.sub("", c)), _ORG_LEAD.sub("", c)) for p, c in cands]
    return cands


def best_sentence(body: str, offset: int, tokens: list[str], idf: dict[str, float],
                  asked: re.Pattern | None = None) -> tuple[int, int]:
    """(start, end) of the best sentence of a passage, in document offsets.

    `asked` is the kind of phrase the question wants (asked_pattern), if it wants one: a sentence
    holding such a phrase is preferred, and a 文号 line wins outright, since it shares no words with
    the question that asks for it.
    """
    qset = set(tokens)
    most = sum(idf.get(t, 1.0) for t in qset)
    best, best_score = (offset, offset + len(body)), -1.0
    for a, b in sentence_spans(body, 0, len(body)):
        sent = body[a:b]
        score = sum(idf.get(t, 1.0) for t in qset & set(tokenize(sent)))
        if asked is not None and _candidates(asked, sent):
            score = score * 1.5 + (most if asked is _DOC_NUMBER else 0.0)
        score /= 1.0 + 0.002 * len(sent)  # equal evidence: prefer the shorter sentence
        if score > best_score:
            best, best_score = (offset + a, offset + b), score
    return best


def answer_span(sentence: str, question: str, tokens: list[str]) -> str | None:
    """The phrase that answers a 多少/几/何时/文号/哪家 question, if the sentence has one."""
    pattern = asked_pattern(question)
    cands = _candidates(pattern, sentence)
    if pattern is _NUMBER:
        asked = _ASKED_UNIT.search(question)
        if asked:
            same = [(p, c) for p, c in cands if c.rstrip("以上左右").endswith(asked.group(1))]
            cands = same or cands
    if pattern is _ORG and re.search(r"哪(?:两|几|些)", question):  # several asked for: prefer a list
        lists = [(p, c) for p, c in cands if re.search(r"[、和及与]", c)]
        cands = lists or cands
    if not cands:
        return None
    # place names are everywhere in these documents: they anchor nothing
    anchors = [m.end() for t in tokens if len(t) > 1 and lookup(t) is None for m in re.finditer(re.escape(t), sentence)]
    if not anchors:
        return cands[0][1]
    # a quantity follows its term (成交额140亿元); an organisation comes before its verb (与X签订)
    if pattern is _ORG:
        return min(cands, key=lambda pc: min(abs(pc[0] - a) + (5 if pc[0] > a else 0) for a in anchors))[1]
    return min(cands, key=lambda pc: min(abs(pc[0] - a) + (0 if pc[0] >= a else 5) for a in anchors))[1]
