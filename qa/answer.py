"""Extractive answers: the sentence in a passage that answers, and the exact phrase.

Nothing is generated: the answer is a span of the document, with its offsets. The sentence
is the one sharing the most informative question terms (IDF-weighted, synonyms included);
the phrase is the number, date, 文号, organisation or name in it closest to those terms, of the
unit the question asks for (多少家 → "166家").
"""

from __future__ import annotations

import re

from policyqa.corpus.metadata import DOC_NUMBER
from policyqa.corpus.places import lookup
from policyqa.corpus.sections import sentence_spans
from policyqa.encode.tokenizer import tokenize

_UNITS = "家|个|项|人|人次|名|场|场次|次|所|批|条|件|台|亿元|万元|元|亿|万|千|%|％|倍|平方米|亩|吨|户|篇|座|支|团队|年"
_NUMBER = re.compile(rf"(?:(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?|[一二三四五六七八九十百千万两]+)"
                     rf"(?:余|多)?\s*[万亿]?(?:{_UNITS})(?:以上|左右)?"
                     r"|\d+(?:\.\d+)?\s*[%％]")
_DATE = re.compile(r"(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?|(?:19|20)\d{2}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}日")
_DAY = re.compile(r"(?:(?:19|20)\d{2}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*[日号]|(?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}"
                  r"|[一二三四五六七八九十〇零]{1,3}月(?:初|[一二三四五六七八九十廿卅]{1,3})[日号]")
_CURRENCY = "美元|美金|港元|港币|欧元|英镑|日元|日圆|日币|円|韩元|韩圆|新台币|台币|澳元|加元|卢布|法郎|马克|卢比|元|圆|块钱|块"
_MONEY = re.compile(
    rf"(?:[A-Z]{{0,3}}[$¥￥£€]\s*\d+(?:[.,]\d+)*(?:\s*[万亿])?|(?:人民币|美元|港币)?(?:\d+(?:[.,]\d+)*|[一二三四五六七八九十百千万两]+)"
    rf"(?:余|多)?\s*[万亿千百]*(?:{_CURRENCY}))(?:人民币)?(?:以上|左右)?"
)
_NAME = re.compile(r"《[^》]{2,40}》|“[^”]{2,30}”")
# a figure named by one of these is an amount of money, as is what one of the verbs takes (能贷多少); a rate or
# change of it is not (研发投入强度, 奖励增长), nor a count or a time (贷了多少家, 花了多少天)
_MONEY_NOUNS = ("补贴|补助|奖补|奖励|奖金|资助|经费|资金|投资|投入|金额|成交额|贷款|授信|额度|拨款|预算|支出"
                "|票价|价格|售价|造价|耗资|费用|工资|薪酬|收入|融资|募集|筹集|支付")
_MONEY_VERBS = "贷|借|花|拨|捐|赔|罚|赚"  # single characters: only right before 多少 (花园有多少 is no sum)
_NOT_MONEY = "强度|比重|比例|占比|率|增|涨|降|减|提高|上升|多|少|倍"
_COUNTED = ("家|个|项|人|名|场|次|所|批|条|件|台|户|篇|座|支|团队|年|倍|%|％"
            "|本|部|首|种|只|位|张|天|小时|分钟|秒|周|月|岁|时间|公里|米|吨|亩")
_ASKS_MONEY = re.compile(
    rf"多少钱|(?:多少|几)(?:元|万元|亿元|美元)|(?:{_MONEY_VERBS})(?:了|掉|过|到|出)?多少(?!{_COUNTED})"
    rf"|(?:{_MONEY_NOUNS})(?:(?!{_NOT_MONEY})[^，。,？?]){{0,6}}?(?:多少|几)(?!{_COUNTED})"
    rf"|(?:多少|几)(?!{_COUNTED})[^，。,？?]{{0,8}}?(?:{_MONEY_NOUNS})[？?]?$"  # 发放了多少贷款
)
_ASKS_DAY = re.compile(r"哪一?天|哪一?日|几月几[日号]|具体日子")
# a count asked in one unit may be stated in a near one (多少名 → 240人); a different unit does not answer it.
# 个 is every noun's classifier (多少个球队 → 13队), so it asks for no particular unit.
_SAME_UNIT = {"人": "人|名|人次|位", "名": "名|人|位", "人次": "人次|次", "家": "家|个|户|所",
              "项": "项|个|件", "件": "件|项|个", "场": "场|场次|次", "场次": "场次|场|次", "次": "次|场|场次|人次",
              "所": "所|家|个", "户": "户|家"}
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
        return DOC_NUMBER
    if _ASKS_DAY.search(question):
        return _DAY
    if re.search(r"何时|什么时候|哪年|日期|时间", question):
        return _DATE
    if _ASKS_ORG.search(question):
        return _ORG
    if re.search(r"叫什么|名称|哪家|什么平台|什么品牌|什么活动", question):
        return _NAME
    if _ASKS_MONEY.search(question):
        return _MONEY
    return _NUMBER


# kinds of phrase precise enough that passages without one cannot answer: a 补贴是多少 question is not answered
# by a passage that names the subsidy but no sum, nor a 哪一天 question by a year, nor 多少件 by a count of 家
# (the kind, in the words a refusal names it with)
REFUSE_WITHOUT = {"money": "金额", "day": "具体日期", "count": "数量"}


def phrase_kind(question: str) -> str:
    """The asked phrase's kind, in words a refusal can name."""
    pattern = asked_pattern(question)
    if pattern is _NUMBER and _asked_units(question):
        return "count"
    return {_MONEY: "money", _DAY: "day", _DATE: "date", DOC_NUMBER: "doc_number", _ORG: "org", _NAME: "name"}.get(pattern, "number")


def _asked_units(question: str) -> tuple[str, ...]:
    """The units a 多少家/几名 question's count may be stated in; empty when it names no unit."""
    asked = _ASKED_UNIT.search(question)
    if not asked or asked.group(1) not in _SAME_UNIT:
        return ()
    return tuple(_SAME_UNIT[asked.group(1)].split("|"))


def _candidates(pattern: re.Pattern, sentence: str, question: str = "") -> list[tuple[int, str]]:
    """Phrases of the asked kind, with their positions; none the question already states (人才新政45条 is not an answer)."""
    cands = [(m.start(), m.group(0)) for m in pattern.finditer(sentence) if m.group(0) not in question]
    if pattern is _NUMBER:  # a bare year is a date, not the quantity asked for
        cands = [(p, c) for p, c in cands if not re.fullmatch(r"(?:19|20)\d{2}\s*年", c)]
    if pattern is _ORG:
        cands = [(p + len(c) - len(_ORG_LEAD.sub("", c)), _ORG_LEAD.sub("", c)) for p, c in cands]
    return cands


def best_sentence(body: str, offset: int, tokens: list[str], idf: dict[str, float],
                  asked: re.Pattern | None = None, question: str = "") -> tuple[int, int]:
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
        low = sent.lower()
        # jieba's tokens are pieces of the lowercased text, so a sentence holding none of the
        # question's tokens as text shares none: it is not tokenized (most of a question's time was)
        shared = qset & set(tokenize(sent)) if any(t in low for t in qset) else ()
        score = sum(idf.get(t, 1.0) for t in shared)
        if asked is not None and _asked_candidates(asked, sent, question):
            score = score * 1.5 + (most if asked is DOC_NUMBER else 0.0)
        score /= 1.0 + 0.002 * len(sent)  # equal evidence: prefer the shorter sentence
        if score > best_score:
            best, best_score = (offset + a, offset + b), score
    return best


def _asked_candidates(pattern: re.Pattern, text: str, question: str) -> list[tuple[int, str]]:
    """Phrases in text of the kind the question asks for, in the unit it asks for (多少名 → 240人, not 5家)."""
    cands = _candidates(pattern, text, question)
    if pattern is _NUMBER:
        units = _asked_units(question)
        if units:
            cands = [(p, c) for p, c in cands if c.rstrip("以上左右").endswith(units)]
    if pattern is _ORG and re.search(r"哪(?:两|几|些)", question):  # several asked for: prefer a list
        lists = [(p, c) for p, c in cands if re.search(r"[、和及与]", c)]
        cands = lists or cands
    return cands


def answer_span(sentence: str, question: str, tokens: list[str], pattern: re.Pattern | None = None) -> str | None:
    """The phrase that answers a 多少/几/何时/文号/哪家 question, if the sentence has one.

    `pattern` is asked_pattern(question), when the caller already has it (one question, many hits)."""
    pattern = pattern or asked_pattern(question)
    cands = _asked_candidates(pattern, sentence, question)
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
