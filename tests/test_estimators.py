"""The DC's estimators pinned to hand-computed values: from the aggregates alone, and through a ledger round whose
adversaries do not collude (distinct points, so a wrong count or a wrong extreme changes the estimate)."""
import numpy as np
import pytest

from coordinator import rules
from coordinator.driver import ProtocolConfig, provision
from coordinator.memory_ledger import MemoryLedger
from protocol import codec
from protocol.ledger import RoundSpec, aggregates
from nodes.swarm import node_addresses, seal


def test_mean_is_the_sum_over_the_count_in_real_units():
    # run 0: four reports summing to (6, -3) at 2^-8 resolution; run 1: one report (0.5, 0.25) at count 1
    total = np.array([[6 * 2**8, -3 * 2**8], [128, 64]])
    count = np.array([4, 1])
    lo = hi = np.zeros((2, 2), dtype=np.int64)  # the mean never reads the extremes
    g = rules.estimate(total, count, lo, hi, "mean", scale_bits=8)
    assert g.tolist() == [[1.5, -0.75], [0.5, 0.25]]


def test_midrange_is_the_centre_of_the_extremes_in_real_units():
    lo = np.array([[-3 * 2**16, 2**16], [5, -7]])
    hi = np.array([[2**16, 2**16], [9, -7]])
    count = np.array([3, 2])
    total = np.full((2, 2), 10**6)  # the midrange never reads the sum
    g = rules.estimate(total, count, lo, hi, "midrange", scale_bits=16)
    assert g.tolist() == [[-1.0, 1.0], [7 * 2.0**-16, -7 * 2.0**-16]]


@pytest.mark.parametrize("estimator", ["mean", "midrange"])
def test_a_round_without_reveals_estimates_zero(estimator):
    g = rules.estimate(np.array([[7, -7], [8, 8]]), np.array([0, 2]), np.array([[3, -5], [4, 4]]),
                       np.array([[3, -5], [4, 4]]), estimator, scale_bits=2)  # row 0's aggregates are ignored
    assert g.tolist() == [[0.0, 0.0], [1.0, 1.0]]


@pytest.mark.parametrize("estimator", ["mean", "midrange"])
def test_a_run_without_reveals_estimates_zero_from_the_recorded_aggregates(estimator):
    """With nothing revealed the extremes are the empty min and max (int64 max and min), not a report."""
    reports = np.array([[[3, 4]], [[8, -8]]])
    total, count, lo, hi = aggregates(reports, np.array([[False], [True]]))
    g = rules.estimate(total, count, lo, hi, estimator, scale_bits=2)
    assert g.tolist() == [[0.0, 0.0], [2.0, -2.0]]


def test_unknown_estimator_names_the_field():
    with pytest.raises(ValueError, match="estimator: unknown 'median'"):
        rules.estimate(np.zeros((1, 1)), np.ones(1), np.zeros((1, 1)), np.zeros((1, 1)), "median", 16)


def test_aggregates_count_only_the_revealed_reports():
    reports = np.array([[[1, -5], [4, 2], [-2, 9], [100, -100]]])
    revealed = np.array([[True, True, True, False]])  # the last node committed and fell silent
    total, count, lo, hi = aggregates(reports, revealed)
    assert total.tolist() == [[3, 6]] and count.tolist() == [3]
    assert lo.tolist() == [[-2, -5]] and hi.tolist() == [[4, 9]]
    # everyone revealed (the unmasked path): every report counts, the silent one's too
    total, count, lo, hi = aggregates(reports, np.ones_like(revealed))
    assert total.tolist() == [[103, -94]] and count.tolist() == [4]
    assert lo.tolist() == [[-2, -100]] and hi.tolist() == [[100, 9]]


# one honest report and three adversaries that do not collude: four distinct points, all within tau = 4
HONEST = [1.0, -2.0]
ADVERSARIES = [[2.5, -2.0], [0.25, -0.5], [1.0, -3.5]]


def ledger_round(reports: np.ndarray, estimator: str, silent: int | None = None):
    """One MemoryLedger round over real-valued reports [B, N, k] (exact in fixed point); node `silent` never
    commits. Returns the estimate the DC forms from the recorded aggregates."""
    b, n, k = reports.shape
    addresses = node_addresses(n, seed=3)
    proto = ProtocolConfig(delta=1.0, reward=1, stake=10, min_stake=10)
    led = MemoryLedger(batch=b, min_stake=proto.min_stake)
    provision(led, addresses, proto, rounds=1)
    rng = np.random.default_rng(0)
    rid = led.open_round(RoundSpec(tau_fx=codec.encode(np.full(b, 4.0)), dim=k, scale_bits=16,
                                   params_digest=[bytes(32)] * b, reward=1, members=addresses))
    commits, reveals = seal(rid, addresses, reports, 16, rng)
    if silent is not None:
        commits, reveals = commits[:silent] + commits[silent + 1:], reveals[:silent] + reveals[silent + 1:]
    led.commit(rid, commits)
    if silent is not None:  # reveals open once the commit window lapses, finalizing once the reveal window does
        led.advance(33)
    led.reveal(rid, reveals)
    if silent is not None:
        led.advance(33)
    out = led.finalize(rid)
    assert out.accepted.all()
    return rules.estimate(out.total, out.count, out.lo, out.hi, estimator, 16)


def test_mean_over_a_ledger_round_with_distinct_adversaries():
    reports = np.array([[HONEST, *ADVERSARIES]])
    # (1 + 2.5 + 0.25 + 1) / 4, (-2 - 2 - 0.5 - 3.5) / 4
    assert ledger_round(reports, "mean").tolist() == [[1.1875, -2.0]]
    # without the third adversary: (1 + 2.5 + 1) / 3, (-2 - 2 - 3.5) / 3
    np.testing.assert_allclose(ledger_round(reports, "mean", silent=2), [[4.5 / 3, -7.5 / 3]], rtol=1e-15)


def test_midrange_over_a_ledger_round_with_distinct_adversaries():
    reports = np.array([[HONEST, *ADVERSARIES], [ADVERSARIES[1], HONEST, ADVERSARIES[0], ADVERSARIES[2]]])
    # x in [0.25, 2.5], y in [-3.5, -0.5] whatever the node order
    assert ledger_round(reports, "midrange").tolist() == [[1.375, -2.0]] * 2
    # without the adversary at (0.25, -0.5): x in [1, 2.5], y in [-3.5, -2]
    assert ledger_round(reports[:1], "midrange", silent=2).tolist() == [[1.75, -2.75]]
