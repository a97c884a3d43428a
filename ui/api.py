"""The JSON HTTP API that `policyqa serve` runs beside the web UI (OpenAPI docs at /docs).

Every answer is `Answer.to_json()`, the very function `policyqa ask --json` prints with, so the
API and the CLI cannot drift apart. Writes (upload, delete) exist only when the server was
started with `--allow-writes`, and go through the same functions as `policyqa add` and
`policyqa remove`, with their validation. Every error is a 4xx or 5xx with one line of JSON,
`{"error": "..."}`, never a traceback.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from policyqa.config import Settings
from policyqa.errors import BuildLocked, CannotWrite, EmptyCorpus, IndexMismatch, IndexMissing, ModelError, PolicyQAError
from policyqa.index.status import gather
from policyqa.index.update import remove_sources, safe_name
from policyqa.index.writing import cannot_write
from policyqa.qa.lifecycle import as_of_date
from policyqa.qa.search import Filters, Searcher, clean_text
from policyqa.qa.types import Answer, Standing
from policyqa.ui.export import answer_csv
from policyqa.ui.links import DEFAULT_MODE, DEFAULT_TOP_K, MAX_TOP_K
from policyqa.ui.uploads import MAX_UPLOAD_BYTES, add_uploads, too_large

log = logging.getLogger("policyqa.api")

WRITES_OFF = "writes are off on this server; start it with: policyqa serve --allow-writes"


class AskRequest(BaseModel):
    """One question; the same fields as `policyqa ask`'s flags (an unknown field is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="the question; over 1,000 characters it is truncated, with a note")
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="passages returned")
    mode: str = Field(DEFAULT_MODE, description="hybrid, dense or bm25")
    city: str | None = Field(None, description="only documents about this city or county, e.g. 岳阳")
    year: int | None = Field(None, description="only documents of this year")
    doc_type: str | None = Field(None, description="e.g. 工作要点, 工作方案, 提案答复, 新闻报道, 进展汇报")
    in_force: bool = Field(False, description="only documents 现行有效 on as_of, or saying nothing about their validity")
    as_of: str | None = Field(None, description="YYYY-MM-DD the statuses are computed for (default: today)")
    timeline: bool = Field(False, description="group the results by year, oldest first (also for 历年/演变 questions)")


# The shapes below document the responses in /docs and /openapi.json only: the routes return
# Answer.to_json() unchanged (response_model=None), and tests/ui/test_api.py checks that the
# fields named here are the fields a real answer has, so the two cannot drift apart unnoticed.
class LinkDoc(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    doc_id: str
    title: str
    wenhao: str | None = Field(alias="文号", description="its 文号")


class YearDoc(BaseModel):
    year: int | None = Field(description="null for documents without a year, last")
    results: list[int] = Field(description="ranks of the passages of that year, best first")


class HitDoc(BaseModel):
    rank: int
    score: float = Field(description="fused score (higher is more relevant); not comparable across modes")
    text: str = Field(description="the passage: exactly the document's text from start to end")
    source: str = Field(description="the file, relative to the documents folder")
    doc_id: str
    title: str
    city: str | None
    year: int | None
    doc_type: str
    section: str = Field(description="heading path, joined by ' > '")
    start: int = Field(description="character offset of the passage in the document's text (GET /api/documents/{doc_id})")
    end: int
    page: int | None = Field(description="the page the passage starts on (PDF, OFD); null for other formats")
    ocr: bool = Field(description="true when some of the passage's text was read by OCR from a scan or picture")
    answer: str | None = Field(description="the answering sentence")
    answer_start: int | None
    answer_end: int | None
    answer_span: str | None = Field(description="the exact phrase for 多少/几/何时/文号/哪家 questions")
    status: str | None = Field(description="现行有效, 尚未施行, 已失效, 已废止 on as_of; null when the document says nothing about it")
    as_of: str = Field(description="the date (YYYY-MM-DD) the status is computed for")
    effective: str | None = Field(description="the date it takes effect (YYYY-MM-DD), as the document states it")
    expires: str | None = Field(description="the last day it is in effect (有效期至, 有效期N年 counted from the effective date)")
    replaced_by: LinkDoc | None = Field(description="the indexed document that repeals or revises it, when status is 已废止")
    replaces: list[LinkDoc] = Field(description="indexed documents it repeals or revises")
    replaces_unresolved: list[str] = Field(description="documents it names as repealed that are not indexed, as written")
    status_evidence: list[str] = Field(description="the sentences the dates and links come from")
    status_problems: list[str] = Field(description="dates not used and why (2月30日, an end before the start, mutual repeals)")


class GroupDoc(BaseModel):
    city: str
    results: list[int] = Field(description="ranks of the passages that support this place, best first")


class AnswerDoc(BaseModel):
    question: str = Field(description="as asked (truncated at 1,000 characters, with a note)")
    results: list[HitDoc]
    found: bool = Field(description="false: 未找到相关内容; results are then the nearest passages")
    mode: str
    notes: list[str] = Field(description="filters and boosts read from the question, and why nothing was found")
    groups: list[GroupDoc] | None = Field(None, description="only for 哪些城市 questions: the places, in order")
    timeline: list[YearDoc] | None = Field(None, description="only with timeline or 历年/演变 questions: years, oldest first")


class ErrorDoc(BaseModel):
    error: str = Field(description="one line: what was wrong and how to ask instead")


ERRORS = {code: {"model": ErrorDoc, "description": why} for code, why in [
    (400, "a question that cannot be asked (empty, unknown mode) or a file that cannot be added"),
    (403, "a write while the server runs without --allow-writes"),
    (404, "no such document or route"),
    (409, "another index build is running, or the last document"),
    (422, "a parameter missing, mistyped, out of range or unknown"),
    (503, "no usable index, or the index or documents folder cannot be written (permissions, read-only)"),
    (507, "the disk is full: the upload or removal was not made"),
]}


def _one_line(text: str) -> str:
    """One line that can be sent: a lone surrogate (a JSON "\\ud800" echoed back) cannot be encoded as UTF-8."""
    return " ".join(clean_text(str(text))[0].split())


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": _one_line(message)}, status_code=status)


def _validation_message(e: RequestValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path"))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", "invalid"))
    return "invalid request: " + "; ".join(parts)


# the HTTP status of each kind of user error, the first that matches; any other is 400 (the request as sent)
STATUS = ((EmptyCorpus, 409), (IndexMissing, 503), (IndexMismatch, 503), (ModelError, 503))


def status_of(e: PolicyQAError) -> int:
    if isinstance(e, CannotWrite):
        return 507 if e.full else 503  # a full disk, or a folder that cannot be written
    return next((status for kind, status in STATUS if isinstance(e, kind)), 400)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        return _error(e.status_code, e.detail if isinstance(e.detail, str) else str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        return _error(422, _validation_message(e))

    @app.exception_handler(PolicyQAError)  # the user's input or the index's state: one line that names the fix
    async def user_error(request: Request, e: PolicyQAError):
        if isinstance(e, BuildLocked):
            return _error(409, f"another index build is running; try again shortly ({e})")
        return _error(status_of(e), str(e))

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception):
        log.exception("API request failed: %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(e).__name__}); the server log has the details")


def _doc_meta(doc, standing: Standing | None = None) -> dict:
    """A document's metadata, with its status and version links on a date when `standing` is given."""
    meta = doc.meta.to_dict()
    meta.pop("lifecycle", None)  # what it states is in standing's fields, with the sentences
    return {"doc_id": doc.doc_id, "source": doc.source, **meta, **(standing.to_json() if standing else {}),
            "passages": len(doc.passages), "characters": len(doc.text)}


def _save(upload: UploadFile, dest: Path, max_bytes: int) -> int:
    """Write the upload to dest, stopping once it is over max_bytes; returns the bytes read."""
    size = 0
    with dest.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                break
            out.write(chunk)
    return size


def _received(files: list[UploadFile], tmp: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The uploads saved in `tmp` (names cleaned as `add` cleans them), and (name, reason) for those too large.
    A temporary folder that is full or cannot be written is a CannotWrite, like the documents folder."""
    paths, too_big = [], []
    try:
        for f in files:
            dest = tmp / safe_name(f.filename or "document")
            if _save(f, dest, MAX_UPLOAD_BYTES) > MAX_UPLOAD_BYTES:
                too_big.append((dest.name, too_large(None)))
            else:
                paths.append(dest)
    except OSError as e:
        err = cannot_write(e, tmp, "start the server with TMPDIR naming another folder", "nothing was added")
        if err is None:
            raise
        raise err from None
    return paths, too_big


def create_api(settings: Settings, searcher: Searcher, allow_writes: bool = False) -> FastAPI:
    """The FastAPI app with the /api routes (the UI is mounted onto it by `ui.app.create_app`)."""
    app = FastAPIOffline(  # /docs and /redoc from local files: no CDN, so they work on an offline intranet
        title="policyqa API",
        summary="Semantic search and extractive question answering over Chinese policy documents",
        description="Answers are exactly the objects `policyqa ask --json` prints. Errors are "
                    '`{"error": "..."}`. Upload and delete only when the server runs with `--allow-writes`'
                    f" (this one: {'on' if allow_writes else 'off'}).",
        version="1",
    )
    _install_error_handlers(app)
    _search_routes(app, searcher)
    _document_routes(app, settings, searcher)
    _write_routes(app, settings, searcher, allow_writes)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown(rest: str):
        """Anything else under /api is ours to answer (not the UI's, mounted at /): a JSON 404."""
        raise HTTPException(404, f"no API route /api/{rest}; the routes are listed at /docs")

    return app


def _search_routes(app: FastAPI, searcher: Searcher) -> None:
    """/api/ask as JSON (GET and POST) and as CSV."""
    def ask(p: AskRequest) -> Answer:
        return searcher.ask(p.question, top_k=p.top_k, mode=p.mode,
                            filters=Filters(city=p.city or None, year=p.year, doc_type=p.doc_type or None,
                                            in_force=p.in_force, as_of=p.as_of, timeline=p.timeline))

    answer_doc = {200: {"model": AnswerDoc, "description": "the object `policyqa ask --json` prints"}}

    @app.get("/api/ask", tags=["search"], summary="Ask a question (query parameters)", response_model=None,
             responses={**answer_doc, **ERRORS})
    def ask_get(p: Annotated[AskRequest, Query()]) -> dict:
        """The object `policyqa ask --json` prints: `question`, `results`, `found`, `mode`, `notes`, and `groups` for 哪些城市 questions."""
        return ask(p).to_json()

    @app.post("/api/ask", tags=["search"], summary="Ask a question (JSON body)", response_model=None,
              responses={**answer_doc, **ERRORS})
    def ask_post(p: AskRequest) -> dict:
        """As GET /api/ask, with the parameters as a JSON object."""
        return ask(p).to_json()

    @app.get("/api/ask.csv", tags=["search"], summary="The results as CSV",
             response_class=Response, responses={200: {"content": {"text/csv": {}}}, **ERRORS})
    def ask_csv(p: Annotated[AskRequest, Query()]) -> Response:
        """One row per passage, or per place for 哪些城市 questions (UTF-8 with BOM)."""
        return Response(answer_csv(ask(p)), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="policyqa-results.csv"'})


def _document_routes(app: FastAPI, settings: Settings, searcher: Searcher) -> None:
    """The indexed documents, one document with its text, and the index's status."""
    @app.get("/api/documents", tags=["documents"], summary="The indexed documents", responses=ERRORS)
    def documents(wenhao: Annotated[str | None, Query(description="only the document with this 文号 (any brackets, "
                                                                     "half- or full-width digits)")] = None,
                  as_of: Annotated[str | None, Query(description="YYYY-MM-DD for the statuses (default: today)")] = None) -> dict:
        """Each document's metadata with its status on `as_of`, dates and version links (replaced_by, replaces)."""
        on = as_of_date(as_of)
        catalog = searcher.catalog()
        docs = searcher.index.docs
        chosen = [docs[i] for i in catalog.by_number(wenhao) if i in docs] if wenhao else list(docs.values())
        return {"documents": [_doc_meta(d, catalog.standing(d.doc_id, on)) for d in sorted(chosen, key=lambda d: d.source)]}

    @app.get("/api/documents/{doc_id}", tags=["documents"], summary="One document: metadata, full text, passages", responses=ERRORS)
    def document(doc_id: str) -> dict:
        """`text` is the extracted text that every `start`/`end` offset of an answer refers to."""
        doc = searcher.index.docs.get(doc_id)
        if doc is None:
            raise HTTPException(404, f"no indexed document with doc_id {doc_id!r}; GET /api/documents lists them")
        passages = [{"ordinal": p.ordinal, "start": p.start, "end": p.end, "section": p.section_path} for p in doc.passages]
        standing = searcher.catalog().standing(doc_id, as_of_date(None))
        return {**_doc_meta(doc, standing), "text": doc.text, "passage_list": passages}

    @app.get("/api/status", tags=["documents"], summary="What the index holds and what is not indexed yet", responses=ERRORS)
    def status() -> dict:
        """The record `policyqa status` prints."""
        return gather(settings).to_json()


def _write_routes(app: FastAPI, settings: Settings, searcher: Searcher, allow_writes: bool) -> None:
    """Upload and delete: refused with 403 unless the server runs with --allow-writes."""
    @app.post("/api/documents", tags=["documents"], summary="Upload documents and index them (--allow-writes)", responses=ERRORS)
    def upload(files: Annotated[list[UploadFile], File(description="one or more .txt .docx .pdf .html .md files")]) -> dict:
        """Copies the files into the documents folder and brings the index up to date, as `policyqa add`."""
        if not allow_writes:
            raise HTTPException(403, WRITES_OFF)
        with tempfile.TemporaryDirectory(prefix="policyqa-upload-") as tmp:
            paths, too_big = _received(files, Path(tmp))
            outcome = add_uploads(settings, paths)
        outcome.rejected += too_big
        if outcome.report is None:
            reasons = "; ".join(f"{n}: {why}" for n, why in outcome.rejected) or "no files"
            raise HTTPException(400, f"nothing added: {reasons}")
        r = outcome.report
        searcher.index  # noqa: B018  (load the new generation now, not on the next question)
        skipped = {s.source: s.reason for s in r.skipped}
        return {
            "added": [n for n in outcome.names if n in set(r.added)],
            "updated": [n for n in outcome.names if n in set(r.updated)],
            "duplicates": [{"source": a, "same_as": b} for a, b in r.duplicates if a in outcome.names],
            "skipped": [{"source": n, "reason": skipped[n], "removed": n in outcome.removed}
                        for n in outcome.names if n in skipped],
            "rejected": [{"name": n, "reason": why} for n, why in outcome.rejected],
            "documents": r.documents, "passages": r.passages,
        }

    @app.delete("/api/documents/{source:path}", tags=["documents"], summary="Remove a document (--allow-writes)", responses=ERRORS)
    def delete(source: str) -> dict:
        """Moves the file to the documents folder's .removed/ (nothing is deleted) and rebuilds, as `policyqa remove`."""
        if not allow_writes:
            raise HTTPException(403, WRITES_OFF)
        docs = searcher.index.docs
        if source not in {d.source for d in docs.values()}:
            raise HTTPException(404, f"{source!r} is not an indexed document; GET /api/documents lists their sources")
        if len(docs) <= 1:
            raise HTTPException(409, f"{source!r} is the only indexed document; an index cannot be empty")
        report = remove_sources(settings, [source], progress=False)
        searcher.index  # noqa: B018
        return {"removed": source, "documents": report.documents, "passages": report.passages}
