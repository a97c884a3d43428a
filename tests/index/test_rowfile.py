"""Rows read from disk with pread (index/store/rowfile.py) are the array's rows, whatever the ids:
unsorted, repeated, clustered or far apart (reads run through small gaps)."""

from __future__ import annotations

import numpy as np
import pytest

from policyqa.index.store.rowfile import GAP_BYTES, RowFile


@pytest.mark.parametrize("shape", [(5000, 384), (200_000,)])
def test_rows_by_any_ids_equal_the_arrays(tmp_path, shape):
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    rf = RowFile(tmp_path / "a.npy")
    n, row = shape[0], a[0].nbytes
    gap = GAP_BYTES // row
    cases = [rng.choice(n, 50, replace=False), rng.integers(0, n, 300), np.array([n - 1, 0, n - 1]),
             np.r_[10:20, 20 + gap, 21 + 2 * gap + 5, 400:410], np.array([3])]
    for ids in cases:
        assert np.array_equal(rf[ids], a[ids])
    assert np.array_equal(rf[17], a[17]) and np.array_equal(rf[-1], a[-1]) and np.array_equal(rf[5:90], a[5:90])
