"""Rows of a .npy file read with pread when asked for: never mapped, never held.

A memory-mapped array is cheap to open, but every page a question touches stays in the
process's resident set, and the kernel maps 16 pages around each one it faults in: after 100
questions over 1M passages the server held all 2 GB of vectors (rows re-scored after the ANN
search, 2 KB each, 64 KB mapped for each) and 0.9 GB of postings. Reading the rows a question
needs into a temporary array costs a system call per contiguous run, and the file stays in the
page cache, shared and reclaimable, not in the process.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

GAP_BYTES = 32 * 1024


class RowFile:
    """A read-only 1- or 2-D .npy array on disk, indexed like an ndarray along its first axis."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(f))
            self._offset = f.tell()
        if fortran or len(shape) not in (1, 2):
            raise ValueError(f"{self.path}: not a C-ordered 1- or 2-D array")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self._row = self.dtype.itemsize * (shape[1] if len(shape) == 2 else 1)
        self._fd = os.open(self.path, os.O_RDONLY)
        if os.fstat(self._fd).st_size < self._offset + self._row * shape[0]:
            os.close(self._fd)
            raise ValueError(f"{self.path} is shorter than its header says (truncated)")

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self._row * self.shape[0]

    def _read(self, start: int, stop: int) -> np.ndarray:
        n = max(0, stop - start)
        want = n * self._row
        buf = os.pread(self._fd, want, self._offset + start * self._row) if want else b""
        if len(buf) != want:
            raise OSError(f"{self.path}: short read (the file changed since the index was opened)")
        return np.frombuffer(buf, dtype=self.dtype).reshape((n, *self.shape[1:]))

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                return self._read(0, self.shape[0])[key]
            return self._read(start, stop)
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.shape[0] if key < 0 else 0)
            if not 0 <= i < self.shape[0]:
                raise IndexError(key)
            return self._read(i, i + 1)[0]
        ids = np.asarray(key, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            return np.zeros((0, *self.shape[1:]), dtype=self.dtype)
        order = np.argsort(ids, kind="stable")
        ranked = ids[order]
        out = np.empty((ids.size, *self.shape[1:]), dtype=self.dtype)
        # one read per run of rows no more than GAP_BYTES apart: reading a few KB between two wanted rows
        # costs less than another system call (a city filter's rows, a document's passages, come in clusters)
        breaks = np.flatnonzero(np.diff(ranked) > max(1, GAP_BYTES // self._row)) + 1
        for run in np.split(np.arange(ids.size), breaks):
            lo, hi = int(ranked[run[0]]), int(ranked[run[-1]]) + 1
            block = self._read(lo, hi)
            out[order[run]] = block[ranked[run] - lo]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self._read(0, self.shape[0])
        return whole if dtype is None else whole.astype(dtype)

    def __matmul__(self, other) -> np.ndarray:
        return np.asarray(self) @ other
