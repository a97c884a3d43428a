"""Word-processor files: .docx read directly; .doc and .wps converted to .docx by LibreOffice first.

Body paragraphs and tables are read in document order (a table sits where the author put it),
tables as header-named rows, and pictures pasted into the text (a scanned notice in a .docx)
are read by OCR where they stand.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from policyqa.corpus.loaders import LoadError
from policyqa.corpus.tables import row_lines
from policyqa.corpus.textbuild import TextBuilder
from policyqa.corpus.types import Extracted, LoadOptions

CONVERT_TIMEOUT_S = 180
_MIN_IMAGE_PX = 120  # smaller pictures are logos and icons, not text


def docx(path: Path, options: LoadOptions) -> Extracted:
    import docx as python_docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if not zipfile.is_zipfile(path):
        raise LoadError(f"{path}: not a valid .docx (not a zip archive); re-save it from Word or WPS")
    document = python_docx.Document(str(path))
    b = TextBuilder()
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
                b.add(_picture_text(document, rid, path), ocr=True)
    if title is None and document.core_properties.title:
        title = document.core_properties.title
    return b.extracted(title)


def _picture_text(document, rid: str, path: Path) -> str:
    """OCR of one embedded picture; pictures that are not raster images or are icon-sized give ''."""
    from PIL import Image

    from policyqa.corpus import ocr

    part = document.part.related_parts.get(rid)
    if part is None or not hasattr(part, "blob"):
        return ""
    try:
        image = Image.open(io.BytesIO(part.blob))
        image.load()
    except Exception:  # EMF/WMF drawings and broken pictures carry no text we can read
        return ""
    if min(image.size) < _MIN_IMAGE_PX:
        return ""
    try:
        return ocr.image_text(image)
    except ocr.OcrUnavailable as e:
        raise LoadError(f"{path}: has pictures to read but {e}; or build with --no-ocr") from None


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def legacy_word(path: Path, options: LoadOptions) -> Extracted:
    """.doc (Word 97–2003) and .wps (WPS Writer, the same binary format): LibreOffice → .docx → `docx`."""
    exe = soffice()
    if exe is None:
        raise LoadError(
            f"{path}: {path.suffix} files need LibreOffice, which is not installed; "
            "run: apt-get install libreoffice-writer-nogui (scripts/setup.sh does), or save the file as .docx"
        )
    if options.progress:
        from tqdm import tqdm

        tqdm.write(f"converting {path.name} with LibreOffice")
    with tempfile.TemporaryDirectory(prefix="policyqa-convert-") as tmp:
        tmp_dir = Path(tmp)
        # a private profile: a LibreOffice the user has open, or another build, does not block this one
        src = tmp_dir / f"in{path.suffix.lower()}"
        shutil.copyfile(path, src)
        cmd = [exe, f"-env:UserInstallation=file://{tmp_dir / 'profile'}", "--headless", "--norestore",
               "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(tmp_dir / "out"), str(src)]
        try:
            subprocess.run(cmd, capture_output=True, timeout=CONVERT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise LoadError(f"{path}: LibreOffice did not convert it within {CONVERT_TIMEOUT_S}s; save it as .docx") from None
        out = tmp_dir / "out" / "in.docx"
        if not out.exists() or out.stat().st_size == 0:
            raise LoadError(f"{path}: LibreOffice could not convert this {path.suffix} file (corrupt or not a word-processor file); "
                            "open it and save it as .docx")
        try:
            return docx(out, options)
        except LoadError as e:  # name the user's file, not the temporary copy
            raise LoadError(str(e).replace(str(out), str(path))) from None
