"""Paths inside the documents folder: what a user names, what a walk finds, how a name is shown.

The documents folder is the only place policyqa reads documents from and the only place
`add` and `remove` change. A path a user gives (`remove ../x.txt`, an absolute path, a
symbolic link) is normalised and checked before anything is touched, and a walk of the
folder never follows a link out of it: a link to /etc/passwd must not become a searchable
document. The walk is iterative, so a folder tree thousands of levels deep is no error.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from policyqa.errors import OutsideFolder

LINK_OUTSIDE = "symbolic link to outside the documents folder; not followed"
LINK_DANGLING = "symbolic link to nothing (dangling); not followed"
NOT_REGULAR = "not a regular file (a pipe, socket or device); not read"

NAME_BYTES = 255  # the longest file name ext4, XFS and btrfs take: bytes, and a Chinese character is 3 of them in UTF-8
NAME_ROOM = 16  # left over for what is added to a name later: " (12)" when a name in .removed/ is taken
SUFFIX_BYTES = 32  # an extension longer than this is no extension policyqa reads

# control characters, line and paragraph separators, bidi overrides: shown escaped
_UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")



class Located:
    """A file kept as the string the walk found: a walk of 67,000 files spent most of its time
    building Path objects, so a Path is made only when asked for."""

    location: str | Path

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass
class Found(Located):
    """A file to read: `rel` is its '/'-separated name in the folder, `location` the real file."""

    rel: str
    location: str
    size: int = 0  # from the walk's lstat: with mtime_ns, lets a scan skip re-hashing an unchanged file
    mtime_ns: int = 0


@dataclass
class Skipped:
    """A file not read, with the reason: one the walk passed by, or one a build could not read."""

    source: str  # '/'-separated name in the folder
    reason: str


def shown(text: str) -> str:
    """`text` on one line: a newline or escape code in a file name cannot break a summary or a terminal."""
    return _UNSHOWABLE.sub(lambda m: repr(m.group())[1:-1], str(text))


def _cut(text: str, max_bytes: int) -> str:
    """`text`'s longest prefix of at most max_bytes in UTF-8 (never half a character)."""
    return text.encode("utf-8", "surrogatepass")[:max_bytes].decode("utf-8", "ignore")


def fit_name(stem: str, suffix: str, max_bytes: int = NAME_BYTES - NAME_ROOM) -> str:
    """stem + suffix in at most max_bytes of UTF-8, the stem cut and the extension kept: 85 Chinese
    characters already make 255 bytes, the most a file system takes in one name."""
    suffix = _cut(suffix, SUFFIX_BYTES)
    return _cut(stem, max_bytes - len(suffix.encode("utf-8", "surrogatepass"))) + suffix


def is_inside(path: Path, root_real: Path) -> bool:
    return path == root_real or path.is_relative_to(root_real)


def inside(root: Path, given: str | Path) -> tuple[Path, str]:
    """(path, '/'-separated name) of `given` in the folder `root`, else OutsideFolder.

    `given` is relative to the folder or absolute. `..` is resolved on the name first, and
    the result (not the raw name) is what callers act on; then no part of it may be a
    symbolic link that leads out of the folder.
    """
    text = str(given)
    if not text.strip() or "\x00" in text:
        raise OutsideFolder(f"{shown(text)!r}: not a file name")
    root_real = Path(os.path.realpath(root))
    root_abs = Path(os.path.abspath(root))
    raw = Path(text)
    norm = Path(os.path.normpath(raw if raw.is_absolute() else root_real / raw))
    base = root_real if is_inside(norm, root_real) else root_abs if is_inside(norm, root_abs) else None
    if base is None or norm == base:
        raise OutsideFolder(f"{shown(text)}: outside the documents folder {root_real}; name a file inside it")
    real = Path(os.path.realpath(norm))
    if not is_inside(real, root_real):
        raise OutsideFolder(f"{shown(text)}: {LINK_OUTSIDE.split(';')[0]} ({shown(str(real))}); refused")
    return root_real / norm.relative_to(base), norm.relative_to(base).as_posix()


def walk(root: Path) -> tuple[list[Found], list[Skipped]]:
    """Every file below `root` (names starting with '.' are ignored), sorted by name.

    Iterative, so depth is no limit. Symbolic links are never followed: one that leads out
    of the folder or to nothing is passed with that reason, and one to a file or folder
    inside it is passed too, since its target is read under its own name (following it
    would only index the same text twice, or loop). Unreadable folders and pipes are passed.
    """
    root_real = Path(os.path.realpath(root))
    files: list[Found] = []
    passed: list[Skipped] = []
    stack: list[tuple[str, str]] = [(str(root_real), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                listed = [(e.name, e.path) for e in it]
        except OSError as e:
            passed.append(Skipped(prefix.rstrip("/") or ".", f"cannot open folder ({e.strerror or e})"))
            continue
        for name, path in listed:
            if name.startswith("."):
                continue
            rel = prefix + name
            seen = _look(rel, path, root_real)
            if seen is None:
                stack.append((path, rel + "/"))
            else:
                (files if isinstance(seen, Found) else passed).append(seen)
    files.sort(key=lambda f: f.rel)
    passed.sort(key=lambda p: p.source)
    return files, passed


def _look(rel: str, path: str, root_real: Path) -> Found | Skipped | None:
    """What the name `rel` at `path` is, never following a link: a file to read, something
    passed with the reason, or None for a folder."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return Skipped(_printable(rel), f"cannot read ({e.strerror or e})")
    if not stat.S_ISDIR(st.st_mode) and not _is_utf8(rel):
        return Skipped(_printable(rel), _not_utf8(rel))
    if stat.S_ISLNK(st.st_mode):
        return Skipped(rel, link_reason(Path(path), root_real))
    if stat.S_ISDIR(st.st_mode):
        return None
    if stat.S_ISREG(st.st_mode):
        return Found(rel, path, st.st_size, st.st_mtime_ns)
    return Skipped(rel, NOT_REGULAR)


def _is_utf8(name: str) -> bool:
    """Whether a name the file system gave is text: bytes that are not UTF-8 come back from the OS
    as lone surrogates, which no JSON, SQLite row or terminal line can hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    """The name with any byte that is not UTF-8 written as \\xNN, so it can be reported and stored."""
    return os.fsencode(name).decode("utf-8", "backslashreplace") if not _is_utf8(name) else name


def _not_utf8(rel: str) -> str:
    """Why a file whose name is not UTF-8 (a GBK name from a Windows zip, say) is not read, and what to rename it to."""
    raw = os.fsencode(rel.rsplit("/", 1)[-1])
    try:
        guess = f" (as GBK it would be {raw.decode('gb18030')!r})"
    except UnicodeDecodeError:
        guess = ""
    return f"file name is not valid UTF-8{guess}; rename it (convmv -f gbk -t utf-8 --notest fixes a whole folder)"


def walk_named(root: Path, names: list[str]) -> tuple[list[Found], list[Skipped]]:
    """What `walk` would report for these names in the folder, without walking the rest of it.

    `add` and `remove` know the files they changed; at 67,000 files the walk was most of their
    time. A name under a hidden folder or reached through a link is not there for `walk` either."""
    root_real = Path(os.path.realpath(root))
    files: list[Found] = []
    passed: list[Skipped] = []
    for rel in dict.fromkeys(names):
        parts = rel.split("/")
        if any(not p or p.startswith(".") or p == ".." for p in parts):
            continue
        folder = str(root_real)
        for part in parts[:-1]:
            folder = os.path.join(folder, part)
            if not os.path.isdir(folder) or os.path.islink(folder):
                break
        else:
            path = os.path.join(folder, parts[-1])
            if not os.path.lexists(path):
                continue  # removed: it drops out of the index
            seen = _look(rel, path, root_real)
            if seen is None:
                inner, inner_passed = walk(Path(path))
                files += [Found(f"{rel}/{f.rel}", f.location, f.size, f.mtime_ns) for f in inner]
                passed += [Skipped(f"{rel}/{x.source}", x.reason) for x in inner_passed]
            else:
                (files if isinstance(seen, Found) else passed).append(seen)
    files.sort(key=lambda f: f.rel)
    passed.sort(key=lambda p: p.source)
    return files, passed


def link_reason(link: Path, root_real: Path) -> str:
    """Why a symbolic link in the folder is not read."""
    target = Path(os.path.realpath(link))
    if not target.exists():
        return LINK_DANGLING
    if not is_inside(target, root_real):
        return LINK_OUTSIDE
    name = target.relative_to(root_real).as_posix()
    if target == root_real or any(part.startswith(".") for part in name.split("/")):
        return f"symbolic link to {shown(name) or '.'} in the documents folder; not followed"
    return f"symbolic link to {shown(name)} in the documents folder; not followed ({shown(name)} is read under its own name)"
