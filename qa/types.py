"""The nouns of the question-answering stage."""

from __future__ import annotations

from dataclasses import dataclass, field

UNKNOWN_CITY = "未知城市"  # shown for a document whose place could not be inferred


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
    province: str | None = None  # the document's province: the place of a provincial document (no city)

    def to_json(self) -> dict:
        return {
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
        return f"《{self.title}》 · {self.place} · {section}{where} · 第{self.start}–{self.end}字{mark}"


@dataclass
class Group:
    city: str
    ranks: list[int]  # ranks of the supporting hits, best first


@dataclass
class Answer:
    question: str
    hits: list[Hit]
    mode: str
    found: bool = True  # False: 未找到相关内容; hits are then the nearest passages, shown as such
    groups: list[Group] | None = None
    notes: list[str] = field(default_factory=list)  # filters and boosts applied from the question

    def to_json(self) -> dict:
        out = {"question": self.question, "results": [h.to_json() for h in self.hits], "found": self.found,
               "mode": self.mode, "notes": self.notes}
        if self.groups is not None:
            out["groups"] = [{"city": g.city, "results": g.ranks} for g in self.groups]
        return out
