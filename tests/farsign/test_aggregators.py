"""Baseline aggregators on cases with known answers, and the two gradient servers built on them."""
from __future__ import annotations

import numpy as np
import pytest

from coordinator import aggregators as agg
from coordinator.report_stream import Report, consume

HONEST = np.array([[1.0, 2.0], [1.2, 1.8], [0.8, 2.2], [1.1, 2.1], [0.9, 1.9]])
TRUE = np.array([1.0, 2.0])


def poisoned(value=1e6, count=2):
    return np.vstack([HONEST, np.full((count, 2), value)])


def test_known_answers():
    v = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [100.0, -100.0]])
    assert agg.Mean()(v) == pytest.approx([21.2, -8.0])
    assert agg.CoordinateMedian()(v) == pytest.approx([2.0, 10.0])
    assert agg.TrimmedMean(1)(v) == pytest.approx([2.0, 10.0])  # (1+2+3)/3, (0+10+20)/3
    assert agg.SignMajority()(v) == pytest.approx([1.0, 1.0])
    line = np.array([[0.0], [1.0], [5.0]])
    assert agg.GeometricMedian()(line) == pytest.approx([1.0], abs=1e-6)  # 1-D: the median


def test_mean_fails_where_the_robust_rules_hold():
    v = poisoned()
    assert np.linalg.norm(agg.Mean()(v) - TRUE) > 1e5
    for rule in (agg.CoordinateMedian(), agg.TrimmedMean(2), agg.Krum(2), agg.MultiKrum(2), agg.GeometricMedian()):
        assert np.linalg.norm(rule(v) - TRUE) < 0.3, rule


def test_krum_picks_the_most_central_honest_report_and_multikrum_averages_the_honest():
    v = poisoned(count=2)
    assert agg.Krum(2)(v) == pytest.approx(HONEST[0])  # the centre of the honest cloud
    assert agg.MultiKrum(2)(v) == pytest.approx(HONEST.mean(axis=0))  # q = m - f = 5: exactly the honest


def test_pairwise_distances_survive_a_large_common_offset():
    """Without centring, |a|^2 + |b|^2 - 2ab at |a| ~ 1e9 loses every digit of a 1e-1 distance."""
    shift = 1e9
    v = np.vstack([HONEST, [[3.0, 3.0]]]) + shift
    d = agg.squared_distances(v)
    exact = ((v[:, None, :] - v[None, :, :]) ** 2).sum(axis=2)
    assert d == pytest.approx(exact, rel=1e-6, abs=1e-6)
    assert agg.Krum(1)(v) == pytest.approx(HONEST[0] + shift)


def test_no_adversary_no_harm():
    for rule in (agg.Mean(), agg.CoordinateMedian(), agg.TrimmedMean(1), agg.MultiKrum(0, q=5),
                 agg.GeometricMedian()):
        assert np.linalg.norm(rule(HONEST) - TRUE) < 0.1


def test_rules_refuse_too_many_faults():
    with pytest.raises(ValueError):
        agg.TrimmedMean(3)(HONEST)
    with pytest.raises(ValueError):
        agg.Krum(3)(HONEST)


def test_synchronous_server_waits_for_all_and_skips_stale_and_nonfinite():
    rule = agg.synchronous(agg.Mean(), lr=1.0, workers=3)
    reports = [Report(0, 0, np.array([1.0]), 1.0), Report(1, 0, np.array([np.nan]), 2.0),
               Report(2, 0, np.array([3.0]), 3.0), Report(0, 0, np.array([100.0]), 4.0)]
    state, trace = consume(rule, rule.init(np.zeros(1)), reports)
    assert [t.updates for t in trace] == [0, 0, 1, 1]  # steps once all 3 reported; the late one is ignored
    assert state.x == pytest.approx([-2.0])  # mean of the finite reports 1 and 3


def test_async_sgd_applies_every_finite_report_at_once():
    rule = agg.asynchronous_sgd(0.5)
    reports = [Report(0, 0, np.array([2.0]), 0.1), Report(1, 0, np.array([np.inf]), 0.2),
               Report(0, 1, np.array([2.0]), 0.3)]
    state, trace = consume(rule, rule.init(np.zeros(1)), reports)
    assert state.x == pytest.approx([-2.0]) and state.n == 3
    assert [t.staleness for t in trace] == [0, 1, 1]


@pytest.mark.slow  # byzfl loads torch
def test_cross_check_with_byzfl():
    byzfl = pytest.importorskip("byzfl")
    rng = np.random.default_rng(1)
    v = np.vstack([rng.normal(0, 1, (7, 5)), rng.normal(30, 1, (3, 5))])
    assert agg.CoordinateMedian()(v) == pytest.approx(byzfl.Median()(v))
    assert agg.TrimmedMean(3)(v) == pytest.approx(byzfl.TrMean(f=3)(v))
    # byzfl scores Krum over m - f - 1 neighbours (ours: the paper's m - f - 2); with a clear honest cluster
    # both select the same report(s)
    assert agg.Krum(3)(v) == pytest.approx(byzfl.Krum(f=3)(v))
    assert agg.MultiKrum(3)(v) == pytest.approx(byzfl.MultiKrum(f=3)(v))
    # byzfl runs T Weiszfeld steps from 0; run both to convergence
    assert agg.GeometricMedian(nu=1e-9, iters=5000, tol=1e-14)(v) == pytest.approx(
        byzfl.GeometricMedian(nu=1e-9, T=5000)(v), abs=1e-6)
