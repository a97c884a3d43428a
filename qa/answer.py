"""Extractive answers: the sentence in a passage that answers, and the exact phrase.

Nothing is generated: the answer is a span of the document, with its offsets. The sentence
is the one sharing the most informative question terms (IDF-weighted, synonyms included);
the phrase is the number, date, 文号 or name in it closest to those terms, of the unit the
question asks for (多少家 → "166家").
"""

from __future__ import annotations

import re

from corpus.sections import sentence_spans
from index.lexical import tokenize

_UNITS = "家|个|项|人|人次|名|场|场次|次|所|批|条|件|台|亿元|万元|元|亿|万|千|%|％|倍|平方米|亩|吨|户|篇|座|支|团队|年"
_NUMBER = re.compile(rf"(?:\d+(?:\.\d+)?|[一二三四五六七八九十百千万两]+)(?:余|多)?(?:{_UNITS})(?:以上|左右)?|\d+(?:\.\d+)?\s*[%％]")
_DOC_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,10}[〔\[［【(（]\s*(?:19|20)\d{2}\s*[〕\]］】)）]\s*\d{1,4}\s*号")
_DATE = re.compile(r"(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?|(?:19|20)\d{2}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}日")
_NAME = re.compile(r"《[^》]{2,40}》|“[^”]{2,30}”")
_ASKED_UNIT = re.compile(rf"(?:多少|几)\s*({_UNITS})")


def best_sentence(body: str, offset: int, tokens: list[str], idf: dict[str, float], wants_span: bool) -> tuple[int, int, float]:
    """(start, end, score) of the best sentence of a passage, in document offsets."""
    qset = set(tokens)
    best = (offset, offset + len(body), -1.0)
    for a, b in sentence_spans(body, 0, len(body)):
        sent = body[a:b]
        words = set(tokenize(sent))
        score = sum(idf.get(t, 1.0) for t in qset & words)
        if wants_span and (_NUMBER.search(sent) or _DOC_NUMBER.search(sent)):
            score *= 1.15
        score /= 1.0 + 0.002 * len(sent)  # equal evidence: prefer the shorter sentence
        if score > best[2]:
            best = (offset + a, offset + b, score)
    return best


def answer_span(sentence: str, question: str, tokens: list[str]) -> str | None:
    """The phrase that answers a 多少/几/何时/文号/名称 question, if the sentence has one."""
    if "文号" in question:
        pattern = _DOC_NUMBER
    elif re.search(r"何时|什么时候|哪天|哪年|日期|时间", question):
        pattern = _DATE
    elif re.search(r"叫什么|名称|哪家|哪个单位|什么平台|什么品牌|什么活动", question):
        pattern = _NAME
    else:
        pattern = _NUMBER
    cands = [(m.start(), m.group(0)) for m in pattern.finditer(sentence)]
    if pattern is _NUMBER:
        cands = [(p, c) for p, c in cands if not re.fullmatch(r"(?:19|20)\d{2}年", c)]
        asked = _ASKED_UNIT.search(question)
        if asked:
            same = [(p, c) for p, c in cands if c.rstrip("以上左右").endswith(asked.group(1))]
            cands = same or cands
    if not cands:
        return None
    anchors = [m.end() for t in tokens if len(t) > 1 for m in re.finditer(re.escape(t), sentence)]
    if not anchors:
        return cands[0][1]
    return min(cands, key=lambda pc: min(abs(pc[0] - a) + (0 if pc[0] >= a else 5) for a in anchors))[1]
