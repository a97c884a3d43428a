"""Zip archives (.docx, .ofd) read within `ReadLimits`: no zip bomb gets to inflate.

Three checks, cheapest first. The member count is read from the archive's end record before
Python builds an entry for each member (a 100 MB zip of empty entries would take a gigabyte).
The sizes the central directory declares are summed before anything is inflated. And every read
is counted as it streams, so a part read many times (an OFD's 200,000 pages that are one page)
counts every time; a member that inflates to more than it declared never gets further than its
declaration, since Python's zipfile stops there and fails its CRC check.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

from policyqa.corpus.limits import LimitExceeded, ReadLimits, megabytes

_CHUNK = 1 << 20
_ADVICE = "re-save it, or split it into smaller files"


def is_tree_xml(name: str) -> bool:
    """A part parsed whole into a tree (python-docx parses every .xml and .rels part it loads)."""
    return name.lower().endswith((".xml", ".rels"))


class LimitedZip:
    """A zip opened from bytes, its declared sizes checked against the limits, its reads counted."""

    def __init__(self, data: bytes, limits: ReadLimits, tree: Callable[[str], bool] | None = None) -> None:
        """`tree` names the members that will be parsed whole: their declared sizes must fit `xml_bytes`
        (by default nothing is checked up front beyond the total)."""
        self.limits = limits
        _check_member_count(data, limits)
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        self.inflated = 0
        infos = self.zip.infolist()
        declared = sum(i.file_size for i in infos)
        if declared > limits.unzipped_bytes:
            raise self._too_big(declared)
        if tree is not None:
            xml = sum(i.file_size for i in infos if tree(i.filename))
            if xml > limits.xml_bytes:
                raise self._too_much_xml(xml)
        self.names = {i.filename.lstrip("/"): i for i in infos}

    def _too_big(self, size: int | None = None) -> LimitExceeded:
        limit = megabytes(self.limits.unzipped_bytes)
        said = f"expands to {megabytes(size)}" if size else f"expands to more than {limit}"
        return LimitExceeded(f"{said} when unzipped (limit {limit})", _ADVICE)

    def _too_much_xml(self, size: int) -> LimitExceeded:
        return LimitExceeded(f"holds {megabytes(size)} of XML to parse (limit {megabytes(self.limits.xml_bytes)})", _ADVICE)

    def open(self, name: str) -> _Counted:
        """A member as a stream (for an incremental parser), counted as it is read."""
        if self.inflated >= self.limits.unzipped_bytes:
            raise self._too_big()
        return _Counted(self, self.zip.open(self.names[name]))

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> LimitedZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Counted(io.RawIOBase):
    def __init__(self, owner: LimitedZip, raw) -> None:
        self.owner, self.raw = owner, raw

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        """At most a megabyte a call, whatever is asked: never a whole member at once."""
        data = self.raw.read(_CHUNK if n is None or n < 0 else min(n, _CHUNK))
        self.owner.inflated += len(data)
        if self.owner.inflated > self.owner.limits.unzipped_bytes:
            raise self.owner._too_big()
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def _check_member_count(data: bytes, limits: ReadLimits) -> None:
    """The end record's member count and directory size, before zipfile reads an entry for each."""
    try:
        end = zipfile._EndRecData(io.BytesIO(data))  # the record zipfile itself starts from (zip64 too)
        if not end:
            return
        members, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    except (AttributeError, OSError):  # not in this Python: zipfile's own parse is the only check
        return
    # a directory entry is 46 bytes and its name; 1,024 each is far more than any real archive needs
    if members > limits.zip_members or directory > limits.zip_members * 1024:
        shown = f"{members:,} files" if members > limits.zip_members else f"a {megabytes(directory)} directory of files"
        raise LimitExceeded(f"is a zip of {shown} (limit {limits.zip_members:,} files)", _ADVICE)
