"""Hostile files, generated small: zip bombs, absurd OFD and PDF pages, RTF that links a picture from disk.

Each writer returns the path it wrote. The bombs are about 1 MB on disk and claim (or hold) a
gigabyte: their deflate streams are written directly, one compressed block repeated, so a test
does not spend seconds compressing a gigabyte to make one. `peak_rss` loads a file in a fresh
interpreter and reports what the load added to that process's peak memory (VmHWM, Linux).
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from policyqa.corpus import office
from policyqa.corpus.loaders import LoadError, load
from policyqa.corpus.types import LoadOptions

GB = 1 << 30
SECRET_PICTURE_TEXT = "外部机密口令紫色大象七号"  # drawn into a picture outside the documents folder
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
OFD_NS = "http://www.ofdspec.org/2016"


# --- zips -----------------------------------------------------------------------------------------

def _repeated_deflate(head: bytes, chunk: bytes, repeats: int, tail: bytes) -> tuple[bytes, int, int]:
    """A raw deflate stream of head + chunk * repeats + tail, its CRC-32 and inflated size.

    After a full flush the compressor refers to nothing before it, so every chunk after the first
    compresses to the same bytes: those are written `repeats - 1` times instead of compressed again."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head + chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.compress(tail) + c.flush()
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    return first + again * (repeats - 1) + end, crc & 0xFFFFFFFF, len(head) + len(chunk) * repeats + len(tail)


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip of (name, raw deflate data, crc, inflated size, declared size) members, written by hand
    so the declared size can differ from what the data inflates to (a header that lies)."""
    local, central, offset = [], [], 0
    for name, data, crc, _size, declared in members:
        n = name.encode()
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), declared, len(n), 0) + n
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), declared,
                                   len(n), 0, 0, 0, 0, 0, offset) + n)
        local.append(header + data)
        offset += len(header) + len(data)
    cd = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), offset, 0)
    path.write_bytes(b"".join(local) + cd + end)
    return path


def _member(name: str, text: str | bytes) -> tuple[str, bytes, int, int, int]:
    raw = text.encode() if isinstance(text, str) else text
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = c.compress(raw) + c.flush()
    return name, data, zlib.crc32(raw) & 0xFFFFFFFF, len(raw), len(raw)


def _bomb_member(name: str, head: str, chunk: str, tail: str, size: int, declared: int | None = None):
    c = chunk.encode() * max(1, (1 << 20) // len(chunk.encode()))  # a megabyte per block: some 1,000 to 1 compressed
    data, crc, inflated = _repeated_deflate(head.encode(), c, max(1, size // len(c)), tail.encode())
    return name, data, crc, inflated, inflated if declared is None else declared


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  '<Default Extension="xml" ContentType="application/xml"/>'
                  '<Override PartName="/word/document.xml" '
                  'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
         'Target="word/document.xml"/></Relationships>')


def docx_parts(document_xml: str) -> list:
    return [_member("[Content_Types].xml", _CONTENT_TYPES), _member("_rels/.rels", _RELS),
            _member("word/document.xml", document_xml)]


def docx_xml(body: str, doctype: str = "") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>'


def docx_bomb(path: Path, size: int = GB, declared: int | None = None) -> Path:
    """A .docx whose document.xml is `size` bytes of paragraphs; `declared` makes its header lie."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>'
    para = "<w:p><w:r><w:t>测试县科技创新工作方案正文内容。</w:t></w:r></w:p>" * 64
    doc = _bomb_member("word/document.xml", head, para, "</w:body></w:document>", size, declared)
    return write_zip(path, docx_parts("")[:2] + [doc])


def ofd_files(title: str, pages: list[str], content: dict[str, str]) -> list:
    """OFD.xml and Document.xml listing `pages` (BaseLoc values), plus the given content files."""
    ofd = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{OFD_NS}" Version="1.0" DocType="OFD"><ofd:DocBody>'
           f"<ofd:DocInfo><ofd:Title>{title}</ofd:Title></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
           "</ofd:DocBody></ofd:OFD>")
    document = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{OFD_NS}"><ofd:Pages>'
                + "".join(f'<ofd:Page ID="{i + 1}" BaseLoc="{loc}"/>' for i, loc in enumerate(pages))
                + "</ofd:Pages></ofd:Document>")
    return [_member("OFD.xml", ofd), _member("Doc_0/Document.xml", document)] + [_member(k, v) for k, v in content.items()]


def ofd_page(objects: str, doctype: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content><ofd:Layer ID="1">'
            f"{objects}</ofd:Layer></ofd:Content></ofd:Page>")


def ofd_text(text: str, y: float = 30.0, delta_x: str | None = None) -> str:
    dx = f' DeltaX="{delta_x}"' if delta_x else ""
    return (f'<ofd:TextObject ID="1" Boundary="25 {y} 160 8" Font="1" Size="5.6">'
            f'<ofd:TextCode X="0" Y="5.6"{dx}>{text}</ofd:TextCode></ofd:TextObject>')


def ofd_bomb(path: Path, size: int = GB) -> Path:
    """An .ofd whose one page's Content.xml is `size` bytes of text objects."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content><ofd:Layer ID="1">'
    obj = ofd_text("测试县数字政府建设工作要点正文。") * 32
    page = _bomb_member("Doc_0/Pages/Page_0/Content.xml", head, obj, "</ofd:Layer></ofd:Content></ofd:Page>", size)
    return write_zip(path, ofd_files("炸弹", ["Pages/Page_0/Content.xml"], {})[:2] + [page])


def ofd_delta_x(path: Path) -> Path:
    """A tiny .ofd whose glyph advances say 'repeat 300,000,000 times'."""
    page = ofd_page(ofd_text("测试县科技工作要点", delta_x="g 300000000 1"))
    return write_zip(path, ofd_files("步进", ["Pages/Page_0/Content.xml"], {"Doc_0/Pages/Page_0/Content.xml": page}))


def ofd_many_pages(path: Path, pages: int = 200_000, line: str = "测试县科技创新工作方案第一部分正文。" * 5) -> Path:
    """`pages` Page entries that all point at one content file of some thirty lines."""
    objects = "".join(ofd_text(line, y=30 + 9 * k) for k in range(30))
    content = {"Doc_0/Pages/Page_0/Content.xml": ofd_page(objects)}
    return write_zip(path, ofd_files("页数", ["Pages/Page_0/Content.xml"] * pages, content))


# --- PDF ------------------------------------------------------------------------------------------

def pdf_pages(path: Path, count: int, width: float = 595, height: float = 842, content: bytes = b"") -> Path:
    """A PDF of `count` pages of the given size sharing one content stream (empty: blank pages)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None,
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    kids = []
    for _ in range(count):
        kids.append(b"%d 0 R" % (len(objs) + 1))
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Contents 3 0 R /Resources << >> >>" % (width, height))
    objs[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % count
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


# --- pictures and RTF -----------------------------------------------------------------------------

def secret_picture(path: Path, text: str = SECRET_PICTURE_TEXT) -> Path:
    """A PNG holding `text` in large print, easy for OCR."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(CJK_FONT), 56)
    image = Image.new("RGB", (60 * len(text) + 80, 180), "white")
    ImageDraw.Draw(image).text((40, 55), text, font=font, fill="black")
    image.save(path)
    return path


def rtf_text(text: str) -> str:
    """`text` as RTF: ASCII as it is (braces and backslashes escaped), the rest as \\uN? escapes."""
    out = []
    for ch in text:
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out += [f"\\u{u if u < 32768 else u - 65536}?" for u in _utf16(ch)]
    return "".join(out)


def _utf16(ch: str) -> list[int]:
    data = ch.encode("utf-16-le")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def rtf_including(path: Path, picture: Path | str, linked_only: bool = True) -> Path:
    """An RTF (to be named .doc or .wps) with a line of text and an INCLUDEPICTURE field naming `picture`."""
    switch = " \\\\d" if linked_only else ""
    rtf = ("{\\rtf1\\ansi\\ansicpg936\\deff0{\\fonttbl{\\f0\\fcharset134 SimSun;}}\\f0 "
           + rtf_text("测试县科技工作要点。附图如下：")
           + f'\\par {{\\field{{\\*\\fldinst INCLUDEPICTURE "{rtf_text(str(picture))}"{switch}}}{{\\fldrslt }}}}\\par }}')
    path.write_text(rtf, encoding="ascii")
    return path


# --- measuring --------------------------------------------------------------------------------------

_PROBE = """
import json, sys, time
from pathlib import Path
from policyqa.corpus.loaders import LoadError, load
import policyqa.corpus.office, policyqa.corpus.ofd, policyqa.corpus.pdf  # their imports belong to the baseline
import docx, pypdf, pypdfium2

def high_water_mb():  # this process's own peak RSS: unlike ru_maxrss, not inherited from the parent
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

base = high_water_mb()
t = time.monotonic()
try:
    ex = load(Path(sys.argv[1]))
    outcome = f"loaded {len(ex.text)} characters"
except LoadError as e:
    outcome = f"LoadError: {e}"
print(json.dumps({"base_mb": base, "peak_mb": high_water_mb(), "seconds": time.monotonic() - t, "outcome": outcome}))
"""


def peak_rss(path: Path, timeout: float = 600) -> dict:
    """Load `path` in a fresh interpreter: its peak RSS before and after the load (MB), seconds, outcome."""
    r = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        return {"base_mb": 0, "peak_mb": float("inf"), "seconds": 0, "outcome": f"exit {r.returncode}: {r.stderr[-300:]}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def libreoffice_save(src: Path, out: Path, filter_name: str) -> Path:
    """`src` saved by LibreOffice with `filter_name` ("doc:MS Word 97", "rtf"), under the name `out`."""
    work = out.parent / f".lo-{out.stem}"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["soffice", f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--convert-to", filter_name,
                    "--outdir", str(work), str(src)], capture_output=True, timeout=300, check=True)
    produced = next(p for p in work.iterdir() if p.is_file() and p.stem == src.stem)
    produced.replace(out)
    shutil.rmtree(work, ignore_errors=True)
    return out


needs_libreoffice = pytest.mark.skipif(office.soffice() is None, reason="needs LibreOffice (scripts/setup.sh installs it)")
needs_font = pytest.mark.skipif(not CJK_FONT.exists(), reason="needs fonts-wqy-zenhei (scripts/setup.sh --dev)")
SECRET_WORDS = ("紫色大象", "口令", "外部机密")  # any of them in the text means the picture was read


def refused(path: Path, options: LoadOptions = LoadOptions()) -> str:
    """The LoadError message for `path`, checked to be one line that names the file."""
    with pytest.raises(LoadError) as e:
        load(path, options)
    msg = str(e.value)
    assert path.name in msg and "\n" not in msg, msg
    return msg


def leaked(text: str) -> bool:
    return any(word in text for word in SECRET_WORDS)


def junk(n: int, seed: int = 3) -> str:
    """What LibreOffice made of random bytes: UTF-16 code units from all over the basic plane."""
    rng = random.Random(seed)
    return "".join(chr(c) for c in (rng.randrange(0x20, 0xD800) for _ in range(n)))
