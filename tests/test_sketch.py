"""protocol/sketch.py: the projection is the documented keccak bit rule, and the sketch is exact."""
from __future__ import annotations

import numpy as np
import pytest
from eth_abi import encode
from eth_hash.auto import keccak as reference_keccak

from protocol import sketch

SEED = bytes.fromhex("5eed" * 16)


def naive_sign(seed: bytes, r: int, c: int) -> int:
    """The rule as a contract states it, through an independent ABI encoder and keccak."""
    word = int.from_bytes(reference_keccak(encode(["bytes32", "uint256", "uint256"], [seed, r, c // 256])), "big")
    return -1 if (word >> (c % 256)) & 1 else 1


def test_signs_follow_the_keccak_bit_rule():
    d, k = 700, 5  # three 256-column blocks, the last one partial
    s = sketch.signs(SEED, k, d)
    assert s.shape == (k, d) and s.dtype == np.int8
    cols = [0, 1, 7, 8, 255, 256, 257, 511, 512, 699]
    assert [[int(s[r, c]) for c in cols] for r in range(k)] == [[naive_sign(SEED, r, c) for c in cols]
                                                                 for r in range(k)]
    # a different seed gives a different matrix; the +1 / -1 split is fair
    assert not np.array_equal(s, sketch.signs(bytes(32), k, d))
    assert abs(s.mean()) < 0.1


def test_rows_are_the_rows_of_the_whole_matrix():
    full = sketch.signs(SEED, 16, 1000)
    np.testing.assert_array_equal(sketch.signs(SEED, 16, 1000, rows=np.array([3, 15])), full[[3, 15]])
    with pytest.raises(ValueError, match="rows"):
        sketch.signs(SEED, 16, 1000, rows=np.array([16]))
    with pytest.raises(ValueError, match="32 bytes"):
        sketch.signs(b"short", 16, 1000)


@pytest.mark.parametrize("magnitude", [2**20, 2**31 - 1])
def test_sketch_is_exact_against_python_integers(magnitude):
    rng = np.random.default_rng(magnitude)
    d, k = 1500, 24
    y = rng.integers(-magnitude, magnitude, size=(2, 3, d), endpoint=True)
    z = sketch.sketch(y, SEED, k)
    s = sketch.signs(SEED, k, d).astype(object)
    naive = [[[sum(int(a) * b for a, b in zip(row, srow)) for srow in s.tolist()] for row in run] for run in y.tolist()]
    assert z.shape == (2, 3, k) and z.tolist() == naive
    assert sketch.sketch_row(y[1, 2], SEED, k, 7) == naive[1][2][7]


@pytest.mark.parametrize("shift", [0, 20, 28])  # d max|y| ~ 2**37, 2**57, 2**65: float64, int64, Python ints
def test_every_arithmetic_tier_agrees(shift):
    rng = np.random.default_rng(3)
    s = sketch.signs(SEED, 8, 64)
    y = rng.integers(-2**31, 2**31, size=(4, 64)) * 2**shift
    assert sketch.apply(s, y).tolist() == (y.astype(object) @ s.T.astype(object)).tolist()


def test_identity_where_the_report_fits():
    y = np.arange(-5, 5).reshape(2, 5)
    np.testing.assert_array_equal(sketch.sketch(y, SEED, 5), y)
    assert sketch.sketch_dim(5, 64) == 5 and sketch.sketch_dim(61_706, 64) == 64
    assert sketch.threshold_sq(3, 5, 64) == 9 and sketch.threshold_sq(3, 61_706, 64) == 64 * 9


def test_sketch_preserves_squared_norms_on_average():
    """E||S x||^2 = k ||x||^2 over seeds: the check's k tau^2 scaling."""
    rng = np.random.default_rng(5)
    x = rng.integers(-1000, 1000, size=2000)
    ratios = [np.sum(sketch.sketch(x, rng.bytes(32), 32).astype(float) ** 2) / (32 * np.sum(x.astype(float) ** 2))
              for _ in range(40)]
    # ||Sx||^2 / (k ||x||^2) has variance ~2/k = 1/16: the mean of 40 lies within 4 sd = 0.16 of 1
    assert abs(np.mean(ratios) - 1) < 0.16
