"""Word-processor files: .docx read directly; .doc and .wps converted to .docx by LibreOffice first.

Body paragraphs and tables are read in document order (a table sits where the author put it),
tables as header-named rows, and pictures pasted into the text (a scanned notice in a .docx)
are read by OCR where they stand.

A converted file brings in nothing from outside itself. Only a real Word 97–2003/WPS file (an
OLE2 compound file) or RTF reaches LibreOffice: a .docx or web page under a .doc name is read
here directly, anything else is refused (random bytes would come back from LibreOffice's
plain-text import as junk). An RTF loses its field instructions first, keeping each field's
shown result, so INCLUDEPICTURE "/etc/…" or INCLUDETEXT never make LibreOffice read a file.
LibreOffice runs with a private profile set never to update links nor run macros (which does
not stop its RTF import from reading an INCLUDEPICTURE file: the stripping above does), in a
process group of its own that is killed, and its folder removed, when it is done or out of time. And of the
pictures in what it returns only those whose bytes are stored in the original are OCRed: a
picture fetched from a link or a path cannot be, whatever LibreOffice did.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import zipfile
from pathlib import Path

from policyqa.corpus.limits import LimitExceeded, OcrClock, ReadLimits
from policyqa.corpus.loaders import LoadError
from policyqa.corpus.tables import row_lines
from policyqa.corpus.textbuild import TextBuilder
from policyqa.corpus.types import Extracted, LoadOptions
from policyqa.corpus.zips import LimitedZip, is_tree_xml

CONVERT_TIMEOUT_S = ReadLimits().convert_seconds
_MIN_IMAGE_PX = 120  # smaller pictures are logos and icons, not text
_OLE2 = b"\xd0\xcf\x11\xe0"  # Word 97–2003 and WPS Writer files are OLE2 compound files (the first four bytes of its mark)
# LibreOffice settings for the private profile: links in a document are never updated (a linked
# picture or section stays a link, it is not read), macros never run, and links from a document
# outside the (empty) list of trusted places are blocked.
_SETTINGS = [
    ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "3"),
    ("/org.openoffice.Office.Common/Security/Scripting", "DisableMacrosExecution", "true"),
    ("/org.openoffice.Office.Common/Security/Scripting", "BlockUntrustedRefererLinks", "true"),
    ("/org.openoffice.Office.Writer/Content/Update", "Link", "0"),  # 0 never, 1 on request (the default), 2 always
    ("/org.openoffice.Office.Common/Misc", "UseLocking", "false"),
]
_PROFILE = ('<?xml version="1.0" encoding="UTF-8"?>\n<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
            'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            + "".join(f'<item oor:path="{where}"><prop oor:name="{name}" oor:op="fuse"><value>{value}</value></prop></item>\n'
                      for where, name, value in _SETTINGS)
            + "</oor:items>\n")


def docx(path: Path, options: LoadOptions, stored: bytes | None = None) -> Extracted:
    """A .docx's text. `stored`, for a file LibreOffice converted: the bytes a picture must be found
    in to be OCRed (the original's, and for RTF its decoded picture data)."""
    import docx as python_docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    data = path.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise LoadError(f"{path}: not a valid .docx (not a zip archive); re-save it from Word or WPS")
    _inflate_within_limits(data, options.limits)
    document = python_docx.Document(io.BytesIO(data))
    b = TextBuilder(options.limits.document_chars)
    pictures = _Pictures(document, path, options.limits, stored)
    title = None
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "tbl":
            for line in row_lines([[cell.text for cell in row.cells] for row in Table(child, document).rows]):
                b.add(line, row=True)
            continue
        if tag != "p":
            continue
        para = Paragraph(child, document)
        line = para.text.strip()
        style = (para.style.name if para.style is not None else "") or ""
        m = re.match(r"(?:Heading|标题)\s*(\d)", style)
        if style in ("Title", "标题") and line:
            title = title or line
            b.add(line, heading=0)
        elif m and line:
            b.add(line, heading=int(m.group(1)))
        else:
            b.add(line)
        if options.ocr:
            for rid in child.xpath(".//a:blip/@r:embed"):
                b.add(pictures.text(rid), ocr=True)
    if title is None and document.core_properties.title:
        title = document.core_properties.title
    ex = b.extracted(title)
    ex.warnings += pictures.warnings()
    return ex


def _inflate_within_limits(data: bytes, limits: ReadLimits) -> None:
    """Every member inflated once, counted, before python-docx reads any: it reads a member whole,
    and zipfile inflates a whole member's data in one step before cutting it to the declared size,
    so a member whose header understates it (1 GB declared as 4 kB) would cost the full gigabyte."""
    with LimitedZip(data, limits, tree=is_tree_xml) as z:
        for name in z.names:
            with z.open(name) as f:
                while f.read(1 << 20):
                    pass


class _Pictures:
    """OCR of the pictures in a .docx, within the document's OCR time and the pixel limit."""

    def __init__(self, document, path: Path, limits: ReadLimits, stored: bytes | None) -> None:
        self.document, self.path, self.limits, self.stored = document, path, limits, stored
        self.clock = OcrClock(limits)
        self.unstored = self.too_large = 0

    def text(self, rid: str) -> str:
        """One embedded picture's text; '' for pictures that are not raster images, icon-sized or blank."""
        from PIL import Image

        from policyqa.corpus import ocr

        part = self.document.part.related_parts.get(rid)
        if part is None or not hasattr(part, "blob"):
            return ""
        if self.stored is not None and part.blob not in self.stored:
            self.unstored += 1  # LibreOffice brought it in from elsewhere (a linked picture), or re-encoded it
            return ""
        try:
            image = Image.open(io.BytesIO(part.blob))  # reads the header only: the size is known before decoding
            width, height = image.size
            if width * height > self.limits.page_pixels and image.format == "JPEG":  # JPEG decodes at 1/2, 1/4, 1/8
                k = next((k for k in (2, 4, 8) if width * height / (k * k) <= self.limits.page_pixels), 8)
                image.draft("RGB", (width // k, height // k))
            if image.size[0] * image.size[1] > self.limits.page_pixels:
                self.too_large += 1
                return ""
            image.load()
        except Exception:  # EMF/WMF drawings and broken pictures carry no text we can read
            return ""
        if min(image.size) < _MIN_IMAGE_PX or not ocr.has_ink(image):
            return ""
        self.clock.check()
        try:
            with self.clock:
                return ocr.image_text(image)
        except ocr.OcrUnavailable as e:
            raise LoadError(f"{self.path}: has pictures to read but {e}; or build with --no-ocr") from None

    def warnings(self) -> list[str]:
        out = []
        if self.unstored:
            out.append(f"{self.unstored} picture(s) not read: not stored in the file itself (linked from elsewhere)")
        if self.too_large:
            out.append(f"{self.too_large} picture(s) not read: larger than {self.limits.page_pixels / 1e6:,.0f} megapixels")
        return out


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def legacy_word(path: Path, options: LoadOptions) -> Extracted:
    """.doc (Word 97–2003) and .wps (WPS Writer, the same binary format): LibreOffice → .docx → `docx`.

    What is really inside decides, not the name: a .docx or a web page saved under a .doc name
    is read directly, an RTF is converted without its field instructions, and anything else is
    refused."""
    data = path.read_bytes()
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if data.startswith(b"PK\x03\x04"):
        return _docx_named_doc(path, data, options)
    if head.startswith((b"<!doctype html", b"<html")) or (head.startswith(b"<") and b"<html" in head):
        from policyqa.corpus.loaders import decode_text, html, read_text_file

        return html(decode_text(read_text_file(path, options.limits), path), options.limits)
    if head.startswith(b"{\\rtf"):
        payload, stored = strip_rtf_fields(data), data + rtf_picture_bytes(data)
    elif data.startswith(_OLE2):
        payload, stored = data, data
    else:
        shown = re.sub(rb"[^\x20-\x7e]", b".", data[:8]).decode("ascii")
        raise LoadError(f"{path}: not a Word 97–2003 or WPS file (it starts with {shown!r}), so LibreOffice is not asked to "
                        "convert it; open it and save it as .docx (a plain text file: rename it .txt)")
    exe = soffice()
    if exe is None:
        raise LoadError(
            f"{path}: {path.suffix} files need LibreOffice, which is not installed; "
            "run: apt-get install libreoffice-writer-nogui (scripts/setup.sh does), or save the file as .docx"
        )
    if options.progress:
        from tqdm import tqdm

        tqdm.write(f"converting {path.name} with LibreOffice")
    with tempfile.TemporaryDirectory(prefix="policyqa-convert-", ignore_cleanup_errors=True) as tmp:
        out = _convert(exe, Path(tmp), payload, path, options.limits.convert_seconds)
        try:
            return docx(out, options, stored=stored)
        except LoadError as e:  # name the user's file, not the temporary copy
            raise LoadError(str(e).replace(str(out), str(path))) from None


def _docx_named_doc(path: Path, data: bytes, options: LoadOptions) -> Extracted:
    """A .docx saved under a .doc or .wps name, as WPS and some sites do: read as the .docx it is."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        if "word/document.xml" not in z.namelist():
            raise LoadError(f"{path}: a zip archive, not a Word file; open it and save it as .docx")
    return docx(path, options)


def _convert(exe: str, tmp: Path, payload: bytes, path: Path, timeout: float) -> Path:
    """LibreOffice converts `payload` to tmp/out/in.docx, from a copy alone in an empty folder (a
    relative link in it finds nothing), with the private profile, in a process group of its own."""
    profile = tmp / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE, encoding="utf-8")
    work = tmp / "work"
    work.mkdir()
    src = work / f"in{path.suffix.lower()}"
    src.write_bytes(payload)
    cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--nolockcheck",
           "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(tmp / "out"), str(src)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=work, start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LimitExceeded(f"LibreOffice did not convert it within {timeout:.0f}s", "save it as .docx") from None
    finally:
        _kill_group(proc)
    out = tmp / "out" / "in.docx"
    if not out.exists() or out.stat().st_size == 0:
        raise LoadError(f"{path}: LibreOffice could not convert this {path.suffix} file (corrupt or not a word-processor file); "
                        "open it and save it as .docx")
    return out


def _kill_group(proc: subprocess.Popen) -> None:
    """LibreOffice and whatever it started (soffice is a script that starts soffice.bin): none may
    outlive the conversion, hold its folder open, or go on reading after a timeout."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# --- RTF --------------------------------------------------------------------------------------------

_RTF_TOKEN = re.compile(rb"[{}]|\\(?:([a-zA-Z]{1,32})(-?\d{1,10})? ?|'[0-9a-fA-F]{2}|.)", re.S)
# groups dropped whole: field instructions (INCLUDEPICTURE, INCLUDETEXT, LINK, IMPORT, DDE, …,
# their results are kept), linked OLE objects, and the template and link sources a document names
_RTF_DROP = {b"fldinst", b"objlink", b"objautlink", b"template", b"linkself", b"datafield"}
_HEX_RUN = re.compile(rb"[0-9a-fA-F][0-9a-fA-F\s]{63,}")


def strip_rtf_fields(data: bytes) -> bytes:
    """RTF without the groups in _RTF_DROP: what a field shows stays, what it would fetch goes.

    A small tokenizer, not a search for the words: groups are matched brace by brace (escaped
    braces and \\bin data skipped), so no spelling, spacing or nesting hides a field instruction."""
    out = bytearray()
    starts: list[tuple[int, bool]] = []  # for each open group: where it began in `out`, and whether it goes
    pos = 0
    while pos < len(data):
        m = _RTF_TOKEN.search(data, pos)
        if m is None:
            out += data[pos:]
            break
        out += data[pos : m.start()]
        token, pos = m.group(0), m.end()
        if token == b"{":
            starts.append((len(out), False))
        elif token == b"}":
            if starts:
                begun, drop = starts.pop()
                if drop:
                    del out[begun:]
                    continue
        elif m.group(1) is not None:
            word = m.group(1).lower()
            if word in _RTF_DROP and starts:
                starts[-1] = (starts[-1][0], True)
            elif word == b"bin" and m.group(2):  # raw bytes follow, braces included: copied, not read
                n = max(0, int(m.group(2)))
                out += token + data[pos : pos + n]
                pos += n
                continue
        out += token
    if starts and any(drop for _, drop in starts):  # an unclosed group to drop: drop to the end
        del out[min(begun for begun, drop in starts if drop):]
    return bytes(out)


def rtf_picture_bytes(data: bytes) -> bytes:
    """The pictures an RTF holds (as hex digits), decoded, so a converted picture can be found in them."""
    out = bytearray()
    for m in _HEX_RUN.finditer(data):
        digits = re.sub(rb"\s", b"", m.group(0))
        out += b"\x00" + bytes.fromhex(digits[: len(digits) // 2 * 2].decode("ascii"))
    return bytes(out)
