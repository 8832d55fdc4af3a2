"""The pairwise consistency check at neural-network sizes: exact in every arithmetic tier, masked by reveals."""
from __future__ import annotations

import numpy as np
import pytest

from coordinator import rules


def naive(reports: np.ndarray, revealed: np.ndarray) -> list[int]:
    """Per pair, in Python integers (the EVM's arithmetic)."""
    out = []
    for y, rev in zip(reports.tolist(), revealed.tolist()):
        best = 0
        for i in range(len(y)):
            for j in range(i + 1, len(y)):
                if rev[i] and rev[j]:
                    best = max(best, sum((a - c) ** 2 for a, c in zip(y[i], y[j])))
        out.append(best)
    return out


@pytest.mark.parametrize("magnitude", [2**10, 2**24, 2**31 - 1])  # float64, int64 and Python-integer tiers
def test_pairwise_max_is_exact_in_every_tier(magnitude):
    rng = np.random.default_rng(magnitude)
    reports = rng.integers(-magnitude, magnitude, size=(3, 5, 300), endpoint=True)
    revealed = rng.random((3, 5)) < 0.8
    revealed[0] = True
    revealed[1, 1:] = False  # a single reveal: no pair, 0
    assert rules.pairwise_sq_dist_max(reports, revealed).tolist() == naive(reports, revealed)


def test_common_offset_does_not_cost_exactness():
    """Reports far from 0 but close together: centring keeps the fast float path exact."""
    rng = np.random.default_rng(1)
    base = rng.integers(2**30, 2**31 - 2**12, size=61_706)
    reports = base + rng.integers(-2**10, 2**10, size=(2, 4, 61_706))
    revealed = np.ones((2, 4), dtype=bool)
    assert rules.pairwise_sq_dist_max(reports, revealed).tolist() == naive(reports, revealed)
