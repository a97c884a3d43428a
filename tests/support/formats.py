"""Files of every format a government website posts, generated in the test (never stored blobs).

.docx with python-docx, .pdf with fpdf2 and the Debian CJK font, .doc/.wps by LibreOffice from a
generated .docx, .ofd written as OFD XML (GB/T 33190) by hand, scans by `scans.py`.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from tests.support.scans import CJK_FONT

TABLE_HEADER = ["序号", "项目名称", "承担单位", "金额（万元）"]
TABLE_ROWS = [
    ["1", "智能装备产业园", "县经开区", "1200"],
    ["2", "新材料研发中心", "县科技局", "850"],
    ["3", "生物医药孵化器", "县卫健局", "600"],
]


def write_docx(path: Path, title: str, paragraphs: list[str], table: list[list[str]] | None = None,
               after_table: list[str] = ()) -> Path:
    import docx

    d = docx.Document()
    d.add_heading(title, level=0)
    for text in paragraphs:
        d.add_paragraph(text)
    if table:
        t = d.add_table(rows=0, cols=len(table[0]))
        t.style = "Table Grid"
        for row in table:
            for cell, value in zip(t.add_row().cells, row):
                cell.text = value
    for text in after_table:
        d.add_paragraph(text)
    d.save(path)
    return path


def write_table_pdf(path: Path, title: str, before: str, table: list[list[str]], after: str) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("wqy", fname=str(CJK_FONT))
    pdf.set_font("wqy", size=12)
    pdf.multi_cell(0, 8, title + "\n" + before)
    pdf.ln(4)
    with pdf.table(first_row_as_headings=False) as t:
        for row in table:
            r = t.row()
            for value in row:
                r.cell(value)
    pdf.ln(4)
    pdf.multi_cell(0, 8, after)
    pdf.output(str(path))
    return path


def libreoffice_convert(src: Path, out: Path, filter_name: str = "doc:MS Word 97") -> Path:
    """LibreOffice's own Word 97 writer; WPS Writer's .wps is that binary format under another name."""
    work = out.parent / f".lo-{out.stem}"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["soffice", f"-env:UserInstallation=file://{work / 'profile'}", "--headless", "--convert-to", filter_name,
                    "--outdir", str(work), str(src)], capture_output=True, timeout=300, check=True)
    produced = work / (src.stem + ".doc")
    shutil.move(produced, out)
    shutil.rmtree(work, ignore_errors=True)
    return out


_NS = "http://www.ofdspec.org/2016"


def write_ofd(path: Path, title: str, pages: list[list[str]], scramble: bool = True) -> Path:
    """An .ofd whose pages hold `pages` (lines of text), one TextObject per character as many
    generators write them, listed in the XML in an order other than the reading order."""
    files = {
        "OFD.xml": f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{_NS}" Version="1.0" DocType="OFD">'
        f"<ofd:DocBody><ofd:DocInfo><ofd:DocID>test</ofd:DocID><ofd:Title>{escape(title)}</ofd:Title></ofd:DocInfo>"
        "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        "Doc_0/Document.xml": f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{_NS}"><ofd:CommonData>'
        "<ofd:MaxUnitID>9999</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>"
        "</ofd:CommonData><ofd:Pages>"
        + "".join(f'<ofd:Page ID="{i + 1}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in range(len(pages)))
        + "</ofd:Pages></ofd:Document>",
    }
    size, left, width = 5.6, 25.0, 160.0  # 三号 is about 5.6 mm
    per_line = int(width // size)
    uid = 100
    for i, lines in enumerate(pages):
        objects = []
        y = 30.0
        for line in lines:
            rows = [line[k : k + per_line] for k in range(0, len(line), per_line)] or [""]
            for row in rows:
                for k, ch in enumerate(row):
                    uid += 1
                    objects.append(f'<ofd:TextObject ID="{uid}" Boundary="{left + k * size:.2f} {y:.2f} {size} {size * 1.2:.2f}" '
                                   f'Font="1" Size="{size}"><ofd:TextCode X="0" Y="{size:.2f}">{escape(ch)}</ofd:TextCode>'
                                   "</ofd:TextObject>")
                y += size * 1.8
        if scramble:
            objects = objects[1::2] + objects[::2]
        files[f"Doc_0/Pages/Page_{i}/Content.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{_NS}"><ofd:Content><ofd:Layer ID="{i + 1}">'
            + "".join(objects) + "</ofd:Layer></ofd:Content></ofd:Page>"
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path
