"""A search as a link: the UI's address bar (`?q=…&city=…`) and the export URL (`api/ask.csv?question=…`).

One record, `SearchParams`, read from and written to both, so a shared link, the export of
what is on screen and the API call that gives the same JSON can never describe different searches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

DEFAULT_MODE = "hybrid"
DEFAULT_TOP_K = 5
MAX_TOP_K = 100


@dataclass(frozen=True)
class SearchParams:
    question: str
    city: str | None = None
    year: int | None = None
    doc_type: str | None = None
    mode: str = DEFAULT_MODE
    top_k: int = DEFAULT_TOP_K
    in_force: bool = False  # 只看现行有效
    timeline: bool = False

    def _pairs(self, question_key: str) -> list[tuple[str, str]]:
        pairs = [(question_key, self.question)]
        pairs += [(k, str(v)) for k, v in (("city", self.city), ("year", self.year), ("doc_type", self.doc_type)) if v]
        if self.mode != DEFAULT_MODE:
            pairs.append(("mode", self.mode))
        if self.top_k != DEFAULT_TOP_K:
            pairs.append(("top_k", str(self.top_k)))
        pairs += [(k, "true") for k, on in (("in_force", self.in_force), ("timeline", self.timeline)) if on]
        return pairs

    def share_query(self) -> str:
        """The UI's query string (without '?'): what a shared link opens and runs."""
        return urlencode(self._pairs("q"))

    def api_query(self) -> str:
        """The same search as /api/ask and /api/ask.csv parameters."""
        return urlencode(self._pairs("question"))


def _int(value: str | None, default: int | None, lo: int = 1, hi: int = 10_000) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return n if lo <= n <= hi else default


def from_share_query(params: Mapping[str, str]) -> SearchParams | None:
    """The search a link asks for (`q`, `city`, `year`, `doc_type`, `mode`, `top_k`), or None without `q`.

    A link is typed or pasted by people: a parameter that does not parse is dropped (the search
    runs without it) rather than failing the page; the search itself reports what it cannot do.
    """
    question = (params.get("q") or "").strip()
    if not question:
        return None
    return SearchParams(
        question=question,
        city=(params.get("city") or "").strip() or None,
        year=_int(params.get("year"), None, 1900, 2200),
        doc_type=(params.get("doc_type") or "").strip() or None,
        mode=(params.get("mode") or DEFAULT_MODE).strip(),
        top_k=_int(params.get("top_k"), DEFAULT_TOP_K, 1, MAX_TOP_K),
        in_force=(params.get("in_force") or "").strip().lower() in ("true", "1", "yes"),
        timeline=(params.get("timeline") or "").strip().lower() in ("true", "1", "yes"),
    )
