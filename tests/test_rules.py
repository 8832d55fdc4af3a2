"""The round rules at their numeric edges: exact squared distances past int64 and at neural-network sizes (every
arithmetic tier, masked by reveals), quorum per run, uint256-safe payouts and slashes (the arithmetic the contract
does in int256/uint256)."""
import numpy as np
import pytest

from coordinator import rules
from protocol import codec


def pair(a, b):
    """Two revealed reports of one run: reports [1, 2, k], revealed [1, 2]."""
    return np.array([[a, b]], dtype=np.int64), np.ones((1, 2), dtype=bool)


def accepted(reports, revealed, tau, quorum=2):
    """rules.accepted for rounds where every member committed and those in `revealed` revealed."""
    return rules.accepted(rules.pairwise_sq_dist_max(reports, revealed), np.ones_like(revealed), revealed.copy(),
                          revealed, np.array(tau), quorum)


def test_squared_distance_exact_at_two_to_the_63():
    # 2 coordinates of difference 2**31 each: 2 * 2**62 = 2**63, one past int64
    reports, revealed = pair([codec.INT32_MAX, codec.INT32_MAX], [-1, -1])
    assert rules.pairwise_sq_dist_max(reports, revealed).tolist() == [2**63]


def test_squared_distance_exact_when_the_dimension_exceeds_the_node_count():
    # k = 4 differences of 1_518_500_250: each square just above 2**61, the sum past int64 and not a float64
    d = 1_518_500_250
    reports, revealed = pair([d // 2] * 4, [-(d // 2)] * 4)
    assert rules.pairwise_sq_dist_max(reports, revealed).tolist() == [4 * d * d]


def test_unrevealed_and_identical_reports_add_no_distance():
    reports = np.array([[[5, -3], [5, -3], [1000, 1000]]])
    revealed = np.array([[True, True, False]])
    assert rules.pairwise_sq_dist_max(reports, revealed).tolist() == [0]
    assert accepted(reports, revealed, [0]).tolist() == [True]


def test_one_unit_past_tau_is_refused_near_the_int32_edge():
    """||y_a - y_b||^2 = tau^2 + 1 with tau ~ 2**31: a float64 comparison would round the excess away."""
    tau = codec.INT32_MAX
    reports, revealed = pair([tau, 1], [0, 0])
    assert accepted(reports, revealed, [tau]).tolist() == [False]
    reports, revealed = pair([tau, 0], [0, 0])
    ok = accepted(reports, revealed, [tau])
    assert ok.tolist() == [True] and ok.dtype == bool


def test_quorum_counts_each_run_of_a_batch_alone():
    reports = np.zeros((2, 3, 1), dtype=np.int64)
    revealed = np.array([[True, False, False], [True, True, False]])
    assert accepted(reports, revealed, [10, 10]).tolist() == [False, True]


def test_settle_is_exact_for_uint256_amounts():
    big = 2**200 + 1
    revealed = np.array([[True, False], [True, False]])
    members = np.ones((2, 2), dtype=bool)
    stake = np.array([[999, 2**62 + 7], [999, 2**62 + 7]], dtype=object)
    paid, slashed = rules.settle(np.array([True, False]), members, revealed, big, stake, slash_bps=5_000)
    assert paid.tolist() == [[big, 0], [0, 0]]  # the rejected run pays nobody
    # floor(999 / 2) and floor((2**62 + 7) / 2), in integers
    assert slashed.tolist() == [[0, 2**61 + 3], [0, 2**61 + 3]]
    assert all(type(v) is int for v in [*paid.ravel(), *slashed.ravel()])


def test_payouts_sum_exactly_over_a_full_round():
    """64 revealers paid 2**60 each: the pool's debit passes int64, so the amounts must be Python integers."""
    paid, slashed = rules.settle(np.array([True]), np.ones((1, 64), dtype=bool), np.ones((1, 64), dtype=bool), 2**60,
                                 np.full((1, 64), 10, dtype=object), slash_bps=5_000)
    assert paid.sum(axis=1).tolist() == [64 * 2**60] and slashed.sum() == 0


def test_slashes_of_int64_stakes_do_not_overflow():
    stake = np.array([[2**62, 3]], dtype=np.int64)  # stake * slash_bps passes int64
    _, slashed = rules.settle(np.array([True]), np.ones((1, 2), dtype=bool), np.zeros((1, 2), dtype=bool), 1, stake,
                              slash_bps=5_000)
    assert slashed.tolist() == [[2**61, 1]]


def test_a_withheld_report_rejects_only_its_own_run():
    reports = np.zeros((2, 3, 1), dtype=np.int64)
    members = np.ones((2, 3), dtype=bool)
    committed = np.array([[True, True, True], [True, True, False]])  # run 1: the third member never committed
    revealed = np.array([[True, True, False], [True, True, False]])  # run 0: the third one withheld its report
    max_sq = rules.pairwise_sq_dist_max(reports, revealed)
    ok = rules.accepted(max_sq, members, committed, revealed, np.array([10, 10]), 2)
    assert ok.tolist() == [False, True]
    # a non-member's commitment-free silence never counts
    outsider = np.array([[True, True, False], [True, True, True]])
    assert rules.accepted(max_sq, outsider, committed, revealed, np.array([10, 10]), 2).tolist() == [True, True]


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
