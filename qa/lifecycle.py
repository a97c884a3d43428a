"""Which documents are in force on a date, which replaced which, and finding a document by its 文号.

A document stores only what it says about itself (corpus/lifecycle.py: dates with their sentences,
the documents it names as repealed). Everything that depends on the day or on other documents is
decided here, when asked: the calendar moves and documents are added (`policyqa add`) without a
rebuild changing anything stored.

Status on a date `d`:
- 尚未施行: its effective date is after `d`;
- 已废止: an indexed document that names it as repealed or revised (by 文号 first, then by title) has
  itself taken effect by `d` (its effective date, or its issue date when it states none); `replaced_by`
  names that document. A repeal is not undone when the repealing document later ends (a repealed rule
  does not come back into force by itself). Two documents that repeal each other: the later one (effective date, then
  issue date) is the one in force, and both carry a problem saying so;
- 已失效: `d` is after its end (有效期至, 有效期N年 counted from the effective date, 试行期 …);
- 现行有效: it states an effective date or an end, and none of the above holds;
- None: it says nothing about its own validity (most reports and news).
A date that does not exist or an end before the start is not used (corpus/lifecycle.py keeps it, with
its sentence, as a problem), so such a document gets the status its other dates give.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date as Date
from typing import Protocol

from policyqa.corpus.lifecycle import normalize_doc_number, number_key, plain_title
from policyqa.corpus.metadata import DOC_NUMBER
from policyqa.corpus.types import DocMeta, Reference
from policyqa.errors import QuestionError
from policyqa.qa.types import Link, Standing

STATUSES = IN_FORCE, NOT_YET, EXPIRED, REPEALED = ("现行有效", "尚未施行", "已失效", "已废止")
KEPT_BY_IN_FORCE = (IN_FORCE, None)  # --in-force keeps these: in force, or saying nothing about it


def as_of_date(value: str | None) -> str:
    """The ISO date a status is computed for: today when not given; a date that does not exist is a
    QuestionError naming the form to use, never a traceback."""
    if value is None or not str(value).strip():
        return Date.today().isoformat()
    text = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        return Date.fromisoformat(text).isoformat()
    except ValueError:
        raise QuestionError(f"--as-of {value!r} is not a date that exists; give it as YYYY-MM-DD, e.g. 2024-06-30") from None


def numbers_in(text: str) -> list[str]:
    """The 文号 a question or sentence holds, each in its one spelling."""
    flat = normalize_doc_number(text)
    return list(dict.fromkeys(m.group(0) for m in DOC_NUMBER.finditer(flat)))


@dataclass
class _Doc:
    doc_id: str
    meta: DocMeta
    start: str | None  # effective date, else issue date: when it can repeal another
    targets: list[tuple[str, Reference]] = field(default_factory=list)  # resolved (doc_id, reference)
    unresolved: list[Reference] = field(default_factory=list)


class Library(Protocol):
    """What a Catalog reads of the indexed documents. An index answers these from columns written
    with its segments (index/store/doctable.py), so building a Catalog reads the metadata of the few
    documents that name others, not of all of them (670,000 documents: seconds per index generation)."""

    def meta(self, doc_id: str) -> DocMeta | None: ...

    def referrers(self) -> Iterable[str]:
        """The documents whose lifecycle names others (as repealed or revised)."""

    def numbered(self, year: int, number: int) -> list[tuple[str, str]]:
        """(issuer prefix, doc_id) of the documents whose 文号 has this year and number."""

    def titled(self, title: str) -> list[str]:
        """The documents whose plain_title is `title`."""


class MemoryLibrary:
    """A Library over (doc_id, metadata) pairs held in memory (tests, the Milvus backend); its 文号 and
    title look-ups are built when first needed."""

    def __init__(self, docs: Iterable[tuple[str, DocMeta]]):
        self.docs = dict(docs)
        self._numbers: dict[tuple[int, int], list[tuple[str, str]]] | None = None
        self._titles: dict[str, list[str]] | None = None

    def meta(self, doc_id: str) -> DocMeta | None:
        return self.docs.get(doc_id)

    def referrers(self) -> list[str]:
        return [d for d, m in self.docs.items() if m.lifecycle and m.lifecycle.references]

    def numbered(self, year: int, number: int) -> list[tuple[str, str]]:
        if self._numbers is None:  # filled aside, then published whole: a server answers from several threads
            numbers: dict[tuple[int, int], list[tuple[str, str]]] = {}
            for doc_id, m in self.docs.items():
                key = number_key(m.doc_number) if m.doc_number else None
                if key:
                    numbers.setdefault(key[1:], []).append((key[0], doc_id))
            self._numbers = numbers
        return self._numbers.get((year, number), [])

    def titled(self, title: str) -> list[str]:
        if self._titles is None:
            titles: dict[str, list[str]] = {}
            for doc_id, m in self.docs.items():
                titles.setdefault(plain_title(m.title), []).append(doc_id)
            self._titles = titles
        return self._titles.get(title, [])


class Catalog:
    """The indexed documents' lifecycles, with repeals resolved against each other; built once per
    index generation (Searcher.catalog) from the documents that name others, after which a status is a
    few look-ups. A document's own entry is made when first asked for."""

    def __init__(self, docs: Library | Iterable[tuple[str, DocMeta]]):
        self.library: Library = docs if hasattr(docs, "referrers") else MemoryLibrary(docs)  # type: ignore[arg-type]
        self._docs: dict[str, _Doc] = {}
        self._lock = threading.Lock()
        self.repealed_by: dict[str, list[str]] = {}
        for doc_id in self.library.referrers():
            d = self.doc(doc_id)
            for ref in d.meta.lifecycle.references:
                target = self.resolve(ref, d)
                if target is None:
                    d.unresolved.append(ref)
                else:
                    d.targets.append((target, ref))
                    self.repealed_by.setdefault(target, []).append(d.doc_id)

    def doc(self, doc_id: str) -> _Doc | None:
        """The document's entry, made from its metadata at the first look (None: not indexed)."""
        d = self._docs.get(doc_id)
        if d is None:
            meta = self.library.meta(doc_id)
            if meta is None:
                return None
            lc = meta.lifecycle
            with self._lock:
                d = self._docs.setdefault(doc_id, _Doc(doc_id, meta, (lc.effective.date if lc and lc.effective else None) or meta.date))
        return d

    # -- finding documents ----------------------------------------------------------------------

    def by_number(self, number: str) -> list[str]:
        """Documents whose own 文号 is `number` (its issuer may be written longer: 请问荆政发… finds 荆政发…)."""
        key = number_key(number)
        if key is None:
            return []
        return [doc_id for prefix, doc_id in self.library.numbered(*key[1:]) if key[0].endswith(prefix) or prefix.endswith(key[0])]

    def find_numbered(self, question: str) -> list[str]:
        """The documents whose 文号 the question is or contains, in the order it names them."""
        if "号" not in question:
            return []  # the common question: no look-up built
        return list(dict.fromkeys(doc_id for n in numbers_in(question) for doc_id in self.by_number(n)))

    def resolve(self, ref: Reference, by: _Doc) -> str | None:
        """The indexed document a reference means: by 文号 first, then by title; never the referring
        document itself. Several with one title (versions): the latest issued before the referrer."""
        if ref.doc_number:
            found = [x for x in self.by_number(ref.doc_number) if x != by.doc_id]
            if found:
                return found[0]
        if ref.title:
            found = [x for x in self.library.titled(plain_title(ref.title)) if x != by.doc_id]
            earlier = [x for x in found if not by.start or (self.doc(x).start or "") <= by.start]
            if earlier or found:
                return max(earlier or found, key=lambda x: (self.doc(x).start or "", x))
        return None

    def link(self, doc_id: str) -> Link:
        m = self.doc(doc_id).meta
        return Link(doc_id, m.title, m.doc_number)

    # -- status on a date -----------------------------------------------------------------------

    def _own(self, d: _Doc, on: str) -> str | None:
        """Its status from its own dates alone (no repeals)."""
        lc = d.meta.lifecycle
        effective = lc.effective.date if lc and lc.effective else None
        expires = lc.expires.date if lc and lc.expires else None
        if effective and on < effective:
            return NOT_YET
        if expires and on > expires:
            return EXPIRED
        return IN_FORCE if effective or expires else None

    def _repealer(self, d: _Doc, on: str) -> tuple[str | None, list[str]]:
        """The in-force document that repeals `d` on `on`, and problems met on the way."""
        problems, best = [], None
        for other_id in self.repealed_by.get(d.doc_id, []):
            other = self.doc(other_id)
            if other.start and on < other.start or self._own(other, on) == NOT_YET:
                continue  # not yet in effect; one that has since ended does not bring the old rule back
            if d.doc_id in self.repealed_by.get(other_id, []):  # each names the other as repealed
                problems.append(f"《{d.meta.title}》与《{other.meta.title}》互相废止，以施行日期较晚者为准")
                if (other.start or "", other.meta.date or "", other_id) < (d.start or "", d.meta.date or "", d.doc_id):
                    continue
            best = best or other_id
        return best, problems

    def standing(self, doc_id: str, on: str) -> Standing:
        """Its status on the ISO date `on`, with its dates, links and the sentences they come from."""
        d = self.doc(doc_id)
        if d is None:
            return Standing(status=None, on=on)
        lc = d.meta.lifecycle
        status = self._own(d, on)
        repealer, problems = self._repealer(d, on)
        if repealer is not None and status != NOT_YET:
            status = REPEALED
        evidence = [x.sentence for x in (lc.effective, lc.expires) if x] if lc else []
        evidence += [ref.sentence for _, ref in d.targets] + [ref.sentence for ref in d.unresolved]
        if repealer is not None:
            evidence += [ref.sentence for target, ref in self.doc(repealer).targets if target == doc_id]
        return Standing(
            status=status, on=on,
            effective=lc.effective.date if lc and lc.effective else None,
            expires=lc.expires.date if lc and lc.expires else None,
            replaced_by=self.link(repealer) if repealer is not None and status == REPEALED else None,
            replaces=[self.link(t) for t, _ in d.targets],
            unresolved=[f"《{r.title}》" if r.title else (r.doc_number or "") for r in d.unresolved],
            evidence=list(dict.fromkeys(evidence)),
            problems=[*(lc.problems if lc else []), *problems],
        )

    def status(self, doc_id: str, on: str) -> str | None:
        return self.standing(doc_id, on).status

    def in_force(self, doc_id: str, on: str) -> bool:
        """What --in-force keeps: 现行有效, or a document that says nothing about its validity."""
        d = self.doc(doc_id)
        if d is None or (d.meta.lifecycle is None and doc_id not in self.repealed_by):
            return True  # the common case (reports, news) costs one look-up
        return self.status(doc_id, on) in KEPT_BY_IN_FORCE


def numbered_first(idx, catalog: Catalog, question: str, ranked: list[int], depth: int) -> tuple[list[int], list[str]]:
    """`ranked` with the passages of the documents whose 文号 the question holds moved to the front (in the
    order it names them), and a note saying so. A named document none of whose passages was a candidate
    is searched for by its title and 文号, so a bare 文号 always finds its document."""
    from policyqa.encode.tokenizer import tokenize
    from policyqa.index.backends import Scope

    wanted = catalog.find_numbered(question)
    if not wanted:
        return ranked, []
    front: list[int] = []
    for doc_id in wanted:
        mine = [pid for pid in ranked if idx.doc(pid).doc_id == doc_id]
        if not mine:
            m = catalog.doc(doc_id).meta
            found = idx.lexical(tokenize(f"{m.title} {m.doc_number or ''}"), depth, Scope())
            mine = [int(pid) for pid in found.ids if idx.doc(int(pid)).doc_id == doc_id][:1]
        front += mine
    taken = set(front)
    labels = "、".join(catalog.link(d).label for d in wanted)
    return front + [pid for pid in ranked if pid not in taken], [f"问题中的文号对应{labels}，排在最前"]


def keep_in_force(idx, catalog: Catalog, ranked: list[int], on: str) -> tuple[list[int], list[str]]:
    """The passages --in-force keeps (现行有效, or no status), and a note naming the date and what went."""
    kept, dropped = [], set()
    for pid in ranked:
        doc_id = idx.doc(pid).doc_id
        if catalog.in_force(doc_id, on):
            kept.append(pid)
        else:
            dropped.add(doc_id)
    note = f"只看截至 {on} 现行有效的文档" + (f"：排除了 {len(dropped)} 篇已废止、已失效或尚未施行的文档" if dropped else "")
    return kept, [note]
