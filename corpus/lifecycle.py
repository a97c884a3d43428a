"""What a document says about its own life: when it takes effect, when it ends, what it repeals.

Official documents close with a sentence such as 本办法自2022年1月1日起施行，有效期5年 or
《XX办法》（X政发〔2019〕3号）同时废止. This module reads those sentences and keeps every date with
the sentence it came from (corpus/types.py Lifecycle), so a reader can check it. It never decides
whether a document is in force: that depends on the day asked and on the other indexed documents,
and is computed when asked (qa/lifecycle.py).

Bad input gets a defined result, never an exception: a date that does not exist (2月30日) or an
expiry before the effective date is kept with its sentence, its date left empty and a note saying why.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date as Date

from policyqa.corpus.metadata import DOC_NUMBER
from policyqa.corpus.types import Dated, Lifecycle, Reference

_DIGITS = "0-9０-９"
_DATE = rf"([12１２][{_DIGITS}]{{3}})\s*年\s*([{_DIGITS}]{{1,2}})\s*月\s*([{_DIGITS}]{{1,2}})\s*日"
_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_COUNT = rf"([{_DIGITS}]{{1,2}}|[一二两三四五六七八九十]{{1,2}})"
_START = r"(?:施行|执行|实施|生效)"
_SELF = r"(?:本|此)(?:办法|规定|细则|通知|意见|方案|规划|决定|措施|政策|制度|文件|标准|条例|规则|要点|指引|指南|公告)"

EFFECTIVE_ON = re.compile(rf"(?:自|从|于)\s*{_DATE}\s*(?:起|开始)?\s*{_START}")
EFFECTIVE_ISSUED = re.compile(rf"(?:自|从)\s*(?:印发|发布|公布|颁布|下发|发文)之日起\s*{_START}")
VALID_FROM_TO = re.compile(rf"有效期\s*(?:为|自|从)?\s*{_DATE}\s*(?:起)?\s*(?:至|到|—|-|－)\s*{_DATE}")
VALID_UNTIL = re.compile(rf"(?:有效期|试行期|执行期|实施期)\s*(?:至|到|截至|截止到|截止)\s*{_DATE}")
VALID_FOR = re.compile(rf"(?:有效期|试行期|执行期|实施期)\s*(?:为|是)?\s*{_COUNT}\s*年")
UNTIL_STOP = re.compile(rf"(?:至|到){_DATE}\s*(?:止|为止|结束)")
REPEAL = re.compile(r"废止|不再执行|停止执行|同时失效|予以废止|不再施行")
# the document itself revises another: 修订《…》, 对《…》进行修订, 《…》修改如下 (not 新修订的《…》, which cites one)
REVISE = re.compile(r"(?<!新)(?:修订|修改)\s*《|对\s*《[^》]+》(?:[（(][^）)]{0,30}[）)])?[^，,。]{0,6}(?:进行|作|作出)了?(?:修订|修改)"
                    r"|《[^》]+》[^，,。]{0,4}(?:修订|修改)如下")
TITLED = re.compile(rf"《([^《》\n]{{2,80}})》\s*(?:[（(]\s*({DOC_NUMBER.pattern})\s*[）)])?")

STATEMENTS = (EFFECTIVE_ON, EFFECTIVE_ISSUED, VALID_FROM_TO, VALID_UNTIL, VALID_FOR, UNTIL_STOP, REPEAL, REVISE)
SENTENCE_END = re.compile(r"[。；;！!\n]")
# a long digest may hold many such sentences; a document's own statement opens or closes it, so the
# first and last halves of this many are read (the patterns run over the whole text: linear, in C)
MAX_SENTENCES = 400


# Which reading of lifecycles an index's metadata holds (its manifest records it): change it when this
# module reads documents differently, and the next build re-reads every document (reusing the embedding
# cache) instead of leaving old metadata in place. An index built before lifecycles existed opens as it
# is, with no status for its documents, until that build.
READER = "lifecycle-1"

_BRACKETS = str.maketrans("[(【〔])】〕", "〔〔〔〔〕〕〕〕")
_SPACE = re.compile(r"\s+")


def normalize_doc_number(number: str) -> str:
    """One spelling of a 文号 however it was typed: 〔〕 [] ［］ () （） 【】 and half- or full-width
    digits all become 荆政发〔2019〕3号, so the same number written three ways is one key."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", number)).translate(_BRACKETS)


_NUMBER = re.compile(r"(.*?)〔(\d{4})〕0*(\d+)号")


def number_key(number: str) -> tuple[str, int, int] | None:
    """(issuer prefix, year, number) of a 文号 however written (〔〕 [] （） full-width digits), or None."""
    m = _NUMBER.fullmatch(normalize_doc_number(number))
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def plain_title(title: str) -> str:
    """A title as references name it: NFKC, no spaces, no 《》 (the key a repeal is matched by)."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", title)).strip("《》")


def _int(text: str) -> int:
    text = unicodedata.normalize("NFKC", text)
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _CN_NUM[text[1]]
    if text.endswith("十"):
        return _CN_NUM[text[0]] * 10
    return _CN_NUM.get(text[0], 0) * (10 if len(text) == 2 else 1) + (_CN_NUM[text[1]] if len(text) == 2 else 0)


def iso(y: str, m: str, d: str) -> tuple[str | None, str | None]:
    """(ISO date, None), or (None, why) for a date that does not exist (2023年2月30日)."""
    yy, mm, dd = _int(y), _int(m), _int(d)
    try:
        return Date(yy, mm, dd).isoformat(), None
    except ValueError:
        return None, f"{yy}年{mm}月{dd}日不存在，未采用"


def add_years(start: str, years: int) -> str:
    """The last day of a period of `years` years from `start` (有效期5年 from 2022-01-01: 2026-12-31)."""
    d = Date.fromisoformat(start)
    try:
        end = d.replace(year=d.year + years)
    except ValueError:  # from 2月29日 into a year without one: the period ends on 2月28日
        end = Date(d.year + years, 3, 1)
    return Date.fromordinal(end.toordinal() - 1).isoformat()


def _sentences(text: str) -> list[str]:
    """The sentences that may speak of the document's life, each once, in order."""
    found = sorted({m.start(): m.end() for p in STATEMENTS for m in p.finditer(text)}.items())
    if len(found) > MAX_SENTENCES:
        found = found[: MAX_SENTENCES // 2] + found[-MAX_SENTENCES // 2 :]
    out: dict[str, None] = {}
    for start, end in found:
        starts = [e.end() for e in SENTENCE_END.finditer(text, max(0, start - 300), start)]
        a = starts[-1] if starts else max(0, start - 300)
        e = SENTENCE_END.search(text, end, end + 300)
        b = e.end() if e else min(len(text), end + 300)
        out.setdefault(text[a:b].strip(), None)
    return [s for s in out if s]


def _about_other(sentence: str, at: int) -> bool:
    """Whether the clause before `at` names another document (《…》自…起施行 speaks of that one)."""
    clause = re.split(r"[，,]", sentence[:at])[-1]
    return "《" in clause and not re.search(_SELF, clause)


def _effective(sentences: list[str], issued: str | None) -> Dated | None:
    found: list[tuple[bool, Dated]] = []  # (says 本办法…, the date)
    for s in sentences:
        for m in EFFECTIVE_ON.finditer(s):
            if _about_other(s, m.start()):
                continue
            day, why = iso(*m.groups())
            found.append((bool(re.search(_SELF, s)), Dated(day, s, why)))
        for m in EFFECTIVE_ISSUED.finditer(s):
            if _about_other(s, m.start()):
                continue
            found.append((bool(re.search(_SELF, s)), Dated(issued, s, None if issued else "印发之日：文档没有可读的日期")))
        for m in VALID_FROM_TO.finditer(s):
            day, why = iso(*m.groups()[:3])
            found.append((True, Dated(day, s, why)))
    if not found:
        return None
    own = [d for mine, d in found if mine]
    return (own or [d for _, d in found])[-1]  # the closing statement is the document's own


def _expires(sentences: list[str], effective: Dated | None, issued: str | None) -> tuple[Dated | None, bool]:
    """(when it ends, whether it is a trial)."""
    trial = False
    found: Dated | None = None
    for s in sentences:
        trial = trial or "试行期" in s
        for m in VALID_FROM_TO.finditer(s):
            day, why = iso(*m.groups()[3:])
            found = Dated(day, s, why)
        for pattern in (VALID_UNTIL, UNTIL_STOP):
            for m in pattern.finditer(s):
                if pattern is UNTIL_STOP and not re.search(r"有效|试行|执行|施行|实施", s):
                    continue  # 至2025年12月31日止 in a list of deadlines is not the document's end
                day, why = iso(*m.groups())
                found = Dated(day, s, why)
        for m in VALID_FOR.finditer(s):
            years = _int(m.group(1))
            start = effective.date if effective and effective.date else issued
            if start is None:
                found = Dated(None, s, f"有效期{years}年：没有可读的施行日期，无法推算")
            else:
                found = Dated(add_years(start, years), s, None)
    return found, trial


def _references(sentences: list[str]) -> list[Reference]:
    out: list[Reference] = []
    seen: set[tuple[str | None, str | None]] = set()
    for s in sentences:
        for clause in re.split(r"[，,；;。]", s):
            action = "废止" if REPEAL.search(clause) else "修订" if REVISE.search(clause) else None
            if action is None:
                continue
            named: list[tuple[str | None, str | None]] = []
            taken: list[tuple[int, int]] = []
            for m in TITLED.finditer(clause):
                number = normalize_doc_number(m.group(2)) if m.group(2) else None
                named.append((m.group(1).strip(), number))
                taken.append(m.span())
            for m in DOC_NUMBER.finditer(clause):  # a 文号 named without a title
                if not any(a <= m.start() < b for a, b in taken):
                    named.append((None, normalize_doc_number(m.group(0))))
            for title, number in named:
                if (title, number) not in seen:
                    seen.add((title, number))
                    out.append(Reference(action, title, number, s))
    return out


def read_lifecycle(text: str, issued: str | None = None, title: str = "") -> Lifecycle | None:
    """What `text` says about its own life, or None when it says nothing (most reports and news).

    `issued`: the document's own date (ISO), which 自印发之日起施行 means; `title`: a 试行 title
    makes it a trial, a 关于修订《…》 title names what it revises."""
    sentences = _sentences(text)
    if title and REVISE.search(title):
        sentences = [title, *sentences]
    effective = _effective(sentences, issued)
    expires, trial = _expires(sentences, effective, issued)
    references = _references(sentences)
    trial = trial or "试行" in title
    if effective is None and expires is None and not references:
        return None
    problems = [f"{d.sentence}：{d.note}" for d in (effective, expires) if d is not None and d.note]
    if effective and expires and effective.date and expires.date and expires.date < effective.date:
        note = f"有效期至{expires.date}早于施行日期{effective.date}，未采用"
        expires = Dated(None, expires.sentence, note)
        problems.append(f"{expires.sentence}：{note}")
    return Lifecycle(effective=effective, expires=expires, trial=trial, references=references, problems=problems)
