"""The nouns of the question-answering stage."""

from __future__ import annotations

from dataclasses import dataclass, field

UNKNOWN_CITY = "未知城市"  # shown for a document whose place could not be inferred


@dataclass(frozen=True)
class Link:
    """Another indexed document a lifecycle points to (its repealer, or one it repeals)."""

    doc_id: str
    title: str
    doc_number: str | None  # 文号

    def to_json(self) -> dict:
        return {"doc_id": self.doc_id, "title": self.title, "文号": self.doc_number}

    @property
    def label(self) -> str:
        return f"《{self.title}》" + (f"（{self.doc_number}）" if self.doc_number else "")


@dataclass
class Standing:
    """A document's status on one date (qa/lifecycle.py computes it): 现行有效, 尚未施行, 已失效,
    已废止, or None when the document says nothing about its own validity."""

    status: str | None
    on: str  # the date (ISO) it was computed for
    effective: str | None = None
    expires: str | None = None
    replaced_by: Link | None = None
    replaces: list[Link] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # what it names as repealed that is not indexed
    evidence: list[str] = field(default_factory=list)  # the sentences the dates and links come from
    problems: list[str] = field(default_factory=list)  # a date that does not exist, two documents repealing each other …

    def to_json(self) -> dict:
        """The fields every result and document listing carries (one home: Hit.to_json and /api/documents use it)."""
        return {"status": self.status, "as_of": self.on, "effective": self.effective, "expires": self.expires,
                "replaced_by": self.replaced_by.to_json() if self.replaced_by else None,
                "replaces": [x.to_json() for x in self.replaces], "replaces_unresolved": self.unresolved,
                "status_evidence": self.evidence, "status_problems": self.problems}

    @property
    def summary(self) -> str:
        """One line for a reader: status, dates, links (CLI, UI and CSV say it the same way)."""
        parts = [self.status or "未说明时效"]
        if self.effective:
            parts.append(f"{self.effective} 起施行")
        if self.expires:
            parts.append(f"有效期至 {self.expires}")
        if self.replaced_by:
            parts.append(f"被{self.replaced_by.label}废止")
        if self.replaces:
            parts.append("废止或修订" + "、".join(x.label for x in self.replaces))
        if self.unresolved:
            parts.append("所废止的" + "、".join(self.unresolved) + "不在索引中")
        parts += [p.rsplit("：", 1)[-1] for p in self.problems]  # what was not used, and why (the sentence is in `problems`)
        return f"{' · '.join(parts)}（截至 {self.on}）"

    @property
    def note(self) -> str:
        """`summary` when there is something to say (a status, or a date not used), else empty."""
        return self.summary if self.status or self.problems else ""

    @property
    def badge(self) -> str:
        """How a citation shows it: 【已废止：被《…》废止】, 【现行有效】; empty without a status."""
        if self.status is None:
            return ""
        if self.replaced_by is not None:
            return f"【{self.status}：被{self.replaced_by.label}废止】"
        return f"【{self.status}】"


@dataclass
class Hit:
    rank: int
    score: float
    pid: int
    doc_id: str
    source: str
    title: str
    city: str | None
    year: int | None
    doc_type: str
    section: str
    start: int
    end: int
    text: str
    dense: float = 0.0  # cosine similarity, for the no-answer decision and display
    bm25: float = 0.0
    answer: str | None = None  # the sentence(s) that answer the question
    answer_start: int | None = None  # document offsets of the answer
    answer_end: int | None = None
    answer_span: str | None = None  # exact phrase for 多少/几/何时/哪家 questions
    page: int | None = None  # page the passage starts on (PDF, OFD)
    ocr: bool = False  # its text (some of it) was read by OCR: check it against the page
    # its document's status on the date asked (qa/lifecycle.py); a Hit made elsewhere has none
    standing: Standing = field(default_factory=lambda: Standing(status=None, on=""))
    province: str | None = None  # the document's province: the place of a provincial document (no city)

    def to_json(self) -> dict:
        return {**self.standing.to_json(),
            "rank": self.rank, "score": round(self.score, 6), "text": self.text, "source": self.source,
            "doc_id": self.doc_id, "title": self.title, "city": self.city, "year": self.year,
            "doc_type": self.doc_type, "section": self.section, "start": self.start, "end": self.end,
            "answer": self.answer, "answer_start": self.answer_start, "answer_end": self.answer_end,
            "answer_span": self.answer_span, "page": self.page, "ocr": self.ocr,
        }

    @property
    def place(self) -> str:
        """The city to show and group by, else the province of a provincial document (未知城市 when none)."""
        return self.city or self.province or UNKNOWN_CITY

    @property
    def citation(self) -> str:
        parts = self.section.split(" > ")
        section = " > ".join(parts[1:]) if len(parts) > 1 else "正文开头"
        where = f" · 第{self.page}页" if self.page is not None else ""
        mark = " · OCR" if self.ocr else ""
        badge = f" · {self.standing.badge}" if self.standing.badge else ""
        return f"《{self.title}》 · {self.place} · {section}{where} · 第{self.start}–{self.end}字{mark}{badge}"


@dataclass
class Group:
    city: str
    ranks: list[int]  # ranks of the supporting hits, best first


@dataclass
class YearGroup:
    year: int | None  # None: documents without a year, last
    ranks: list[int]  # ranks of its hits, best first


@dataclass
class Answer:
    question: str
    hits: list[Hit]
    mode: str
    found: bool = True  # False: 未找到相关内容; hits are then the nearest passages, shown as such
    groups: list[Group] | None = None
    notes: list[str] = field(default_factory=list)  # filters and boosts applied from the question
    timeline: list[YearGroup] | None = None  # --timeline and 历年/演变 questions: by year, oldest first

    def to_json(self) -> dict:
        out = {"question": self.question, "results": [h.to_json() for h in self.hits], "found": self.found,
               "mode": self.mode, "notes": self.notes}
        if self.groups is not None:
            out["groups"] = [{"city": g.city, "results": g.ranks} for g in self.groups]
        if self.timeline is not None:
            out["timeline"] = [{"year": g.year, "results": g.ranks} for g in self.timeline]
        return out
