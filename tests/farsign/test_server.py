"""The FAR-SIGN server: schedules, the two timescales, the signed-sum invariant, robustness to any input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coordinator import directions, farsign
from coordinator.report_stream import Report, consume


def test_variant_exponents_are_the_specs():
    fo = farsign.params(directions.replicated_basis(3, 2), "first-order")
    zo = farsign.params(directions.replicated_basis(3, 2), "zeroth-order")
    assert (fo.slow.exponent, fo.fast.exponent, fo.perturbation) == (0.75, 0.51, None)
    assert (zo.slow.exponent, zo.fast.exponent, zo.perturbation.exponent) == pytest.approx((5 / 6, 2 / 3, 1 / 6))


def test_schedule_values():
    s = farsign.Schedule(scale=2.0, exponent=0.5, offset=3.0)
    assert s(1) == pytest.approx(1.0)  # 2 * 4^-0.5
    assert s(np.array([6, 13])) == pytest.approx([2 / 3, 0.5])
    p = farsign.params(directions.replicated_basis(2, 2), a0=0.5, n0=4.0)
    assert p.slow(0) == pytest.approx(0.5 * 4 ** -0.75)
    assert p.fast(0) == 1.0  # b0 (0 + 1)^-beta: the first report sets z = y


@pytest.mark.parametrize("kw", [dict(alpha=0.5, beta=0.6), dict(beta=0.5), dict(a0=-1.0), dict(b0=1.5)])
def test_params_refuse_invalid_constants(kw):
    with pytest.raises(ValueError):
        farsign.params(directions.replicated_basis(2, 2), **kw)


def test_fast_then_slow_step_by_hand():
    p = farsign.params(directions.replicated_basis(2, 2), a0=1.0, n0=1.0)
    s = farsign.init(p, np.zeros(2))
    s = farsign.update(p, s, 0, np.array([2.0, -3.0]))
    assert s.z[0] == pytest.approx([2.0, -3.0]) and s.n == 1
    assert s.x == pytest.approx([-1.0, 1.0])  # a(0) = 1, one worker has signs (+, -)
    s = farsign.update(p, s, 1, np.array([-1.0, -1.0]))
    assert s.x == pytest.approx([-1.0, 1.0 + 2 ** -0.75 * 2])  # signs (+,-) + (-,-) = (0, -2)
    s = farsign.update(p, s, 0, np.array([-4.0, 0.0]))  # z0 = 2 + b(1)(-4 - 2), b(1) = 2^-0.51
    assert s.z[0] == pytest.approx([2 - 6 * 2 ** -0.51, -3 + 3 * 2 ** -0.51])
    assert s.nu.tolist() == [2, 1]


def random_reports(p, rng, count, poison=False):
    for _ in range(count):
        j = int(rng.integers(p.design.workers))
        y = rng.standard_normal(p.design.size(j)) * 10 ** rng.uniform(-3, 3)
        if poison:
            y[rng.random(y.shape) < 0.3] = rng.choice([np.nan, np.inf, -np.inf, 1e308, -1e308])
        yield j, y


@pytest.mark.parametrize("full_sum", [True, False])
def test_signed_sum_matches_its_definition(design, rng, full_sum):
    p = farsign.params(design, a0=0.1, full_sum=full_sum)
    s = farsign.init(p, np.zeros(design.dim))
    for j, y in random_reports(p, rng, 60, poison=True):
        before = s
        s = farsign.update(p, s, j, y)
        full = sum(design.transpose(k, np.sign(s.z[k])) for k in range(design.workers))
        assert s.signed == pytest.approx(full, abs=1e-9)
        step = full if full_sum else design.transpose(j, np.sign(s.z[j]))
        assert s.x == pytest.approx(before.x - p.slow(before.n) * step, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(values=arrays(np.float64, 4, elements=st.floats(allow_nan=True, allow_infinity=True)),
       mode=st.sampled_from(["sign", "drop"]), worker=st.integers(0, 2))
def test_any_report_leaves_the_state_finite_and_moves_x_by_at_most_the_bound(values, mode, worker):
    """The NaN/inf proof: whatever a worker sends, no state entry becomes non-finite, and each
    coordinate moves by at most a(n) * (workers owning it): one row's influence is a(n) ||a||."""
    d = directions.replicated_basis(4, 3)
    p = farsign.params(d, a0=0.5, nonfinite=mode)
    s = farsign.update(p, farsign.init(p, np.ones(4)), 1, np.array([1.0, -1.0, 2.0, 0.0]))
    for _ in range(3):
        n, x = s.n, s.x
        s = farsign.update(p, s, worker, values)
        assert all(np.isfinite(a).all() for a in (s.x, s.signed, *s.z))
        assert np.abs(s.x - x).max() <= p.slow(n) * 3 + 1e-15


def test_nonfinite_values_count_through_their_sign_or_are_dropped():
    d = directions.replicated_basis(3, 1)
    y = np.array([np.inf, -np.inf, np.nan])
    sign = farsign.params(d, nonfinite="sign")
    s = farsign.update(sign, farsign.init(sign, np.zeros(3)), 0, y)
    assert s.z[0].tolist() == [1.0, -1.0, 0.0]  # NaN has no sign: that row keeps z = 0
    drop = farsign.params(d, nonfinite="drop")
    s = farsign.update(drop, farsign.init(drop, np.zeros(3)), 0, y)
    assert s.z[0].tolist() == [0.0, 0.0, 0.0] and s.nu.tolist() == [1]


def test_huge_values_are_clipped_so_the_average_cannot_overflow():
    d = directions.replicated_basis(1, 1)
    p = farsign.params(d)
    s = farsign.update(p, farsign.init(p, np.zeros(1)), 0, np.array([1e308]))
    s = farsign.update(p, s, 0, np.array([-1e308]))
    assert np.isfinite(s.z[0]).all() and abs(s.z[0][0]) <= p.clip


def test_malformed_reports_are_refused():
    p = farsign.params(directions.replicated_basis(3, 2))
    s = farsign.init(p, np.zeros(3))
    with pytest.raises(ValueError, match="expected 3 values"):
        farsign.update(p, s, 0, np.zeros(2))
    with pytest.raises(ValueError, match="worker -1"):
        farsign.update(p, s, -1, np.zeros(3))


def test_update_does_not_mutate_its_input_state(rng):
    p = farsign.params(directions.replicated_basis(4, 2))
    s0 = farsign.init(p, np.zeros(4))
    s1 = farsign.update(p, s0, 0, rng.standard_normal(4))
    farsign.update(p, s1, 1, rng.standard_normal(4))
    assert not s0.x.any() and not s0.z[0].any() and s0.nu.sum() == 0
    assert s1.nu.tolist() == [1, 0]


def test_honest_majority_beats_flipped_minority_on_a_separable_quadratic():
    """f(x) = |x - 1|^2 / 2 with exact gradients: 3 honest, 2 sign flippers; signs drive x to 1."""
    d = directions.replicated_basis(3, 5)
    p = farsign.params(d, a0=0.05)
    s = farsign.init(p, np.zeros(3))
    for t in range(3000):
        j = t % 5
        g = s.x - 1.0
        s = farsign.update(p, s, j, g if j < 3 else -g)
    assert np.abs(s.x - 1.0).max() < 0.05


def test_consume_applies_reports_in_order_and_records_staleness():
    p = farsign.params(directions.replicated_basis(2, 2), a0=1.0)
    rule = farsign.rule(p)
    reports = [Report(0, 0, np.array([1.0, 1.0]), 0.5), Report(1, 0, np.array([1.0, -1.0]), 0.7),
               Report(0, 1, np.array([1.0, 1.0]), 0.9)]
    state, trace = consume(rule, rule.init(np.zeros(2)), reports)
    assert [t.staleness for t in trace] == [0, 1, 1]
    assert [t.updates for t in trace] == [1, 2, 3]
    manual = rule.init(np.zeros(2))
    for r in reports:
        manual = farsign.update(p, manual, r.worker, r.values)
    assert np.array_equal(state.x, manual.x)
