"""VISTA controller invariants, on an injected curve (the controller needs no chain and no solver)."""
import numpy as np
from hypothesis import given, strategies as st

from coordinator import vista

GRID = np.round(np.linspace(2.0, 8.0, 61), 10)
MSE = 0.11 * (GRID + 2.0) ** 2  # the scalar closed form's shape: MSE* = m (eta + 2)^2


def make(batch=4, **kw):
    kw = {"eta_min": 2.0, "eta_max": 8.0, "lam": 1.0, "alpha0": 0.1, **kw}
    return vista.params(GRID, MSE, repeat=batch, **kw)


states = st.builds(
    lambda idx, a, s_frac, m: vista.VistaState(np.array(idx), np.array(m).reshape(4, 3), np.array(a),
                                               np.minimum(np.array(a), (np.array(a) * s_frac).astype(int))),
    st.lists(st.integers(0, 60), min_size=4, max_size=4),
    st.lists(st.integers(0, 1000), min_size=4, max_size=4),
    st.floats(0, 1),
    st.lists(st.floats(-100, 100), min_size=12, max_size=12),
)


@given(states, st.lists(st.booleans(), min_size=4, max_size=4), st.lists(st.floats(-1e3, 1e3), min_size=12, max_size=12))
def test_rejected_rows_change_nothing_and_eta_stays_in_range(state, accepted, g):
    p = make()
    acc = np.array(accepted)
    new = vista.update(p, state, acc, np.array(g).reshape(4, 3))
    rej = ~acc
    assert np.array_equal(new.eta_index[rej], state.eta_index[rej])
    assert np.array_equal(new.m[rej], state.m[rej])
    assert np.array_equal(new.a[rej], state.a[rej]) and np.array_equal(new.s[rej], state.s[rej])
    assert np.all((new.eta_index >= p.lo) | rej) and np.all((new.eta_index <= p.hi) | rej)
    assert np.array_equal(new.a, state.a + acc)


@given(states, st.lists(st.booleans(), min_size=4, max_size=4))
def test_learning_rate_decays_only_after_accepted_saturated_rounds(state, accepted):
    p = make()
    acc = np.array(accepted)
    new = vista.update(p, state, acc, np.zeros((4, 3)))
    was_saturated = state.eta_index == p.lo
    decayed = vista.learning_rate(p, new) < vista.learning_rate(p, state)
    assert np.array_equal(decayed, acc & was_saturated)
    assert np.all(vista.learning_rate(p, new) <= vista.learning_rate(p, state))


def test_threshold_is_the_largest_grid_eta_within_the_noise_target():
    p = make(batch=1)
    for target in [0.0, 1.0, MSE[10], MSE[10] + 1e-9, MSE[-1] * 2]:
        idx = vista.threshold_index(p, np.array([target]))[0]
        admissible = np.nonzero(MSE <= target)[0]
        expected = admissible.max() if len(admissible) else 0
        assert idx == expected
        assert idx == 0 or MSE[idx] <= target


def test_threshold_uses_running_max_where_the_curve_dips():
    dipping = MSE.copy()
    dipping[30] = 0.5  # a spurious low point must not let eta jump past the rising part
    p = vista.params(GRID, dipping, eta_min=2.0, eta_max=8.0, repeat=1)
    assert vista.threshold_index(p, np.array([1.0]))[0] == 0


def test_constant_eta_baseline_never_moves_and_decays_over_accepted_rounds():
    p = make(eta_min=4.0, eta_max=4.0)
    s = vista.init(p, 3)
    for acc in ([True] * 4, [False, True, False, True], [True, False, False, False]):
        s = vista.update(p, s, np.array(acc), np.ones((4, 3)) * 100.0)
        assert np.all(vista.eta(p, s) == 4.0)
    assert np.array_equal(s.s, s.a)
    assert np.allclose(vista.learning_rate(p, s), 0.1 / np.sqrt(1 + s.a))


def test_proxy_starts_permissive_and_tightens_as_the_gradient_fades():
    p = make(batch=1)
    s = vista.init(p, 3)
    assert vista.eta(p, s)[0] == 8.0
    for _ in range(50):
        s = vista.update(p, s, np.array([True]), np.full((1, 3), 1e-3))
    assert vista.eta(p, s)[0] == 2.0 and s.s[0] > 0


def test_oracle_variant_follows_the_true_norm():
    p = make(batch=2, oracle=True)
    s = vista.init(p, 3, grad_sq=np.array([1e6, 0.0]))
    assert vista.eta(p, s).tolist() == [8.0, 2.0]
    s = vista.update(p, s, np.array([True, True]), np.zeros((2, 3)), grad_sq=np.array([0.0, 1e6]))
    assert vista.eta(p, s).tolist() == [2.0, 8.0]


def test_bad_parameters_name_the_field():
    import pytest

    with pytest.raises(ValueError, match="eta_min: 2.01 is not on the equilibrium grid"):
        vista.params(GRID, MSE, eta_min=2.01, eta_max=8.0)
    with pytest.raises(ValueError, match="eta_min: 6.0 exceeds eta_max 3.0"):
        vista.params(GRID, MSE, eta_min=6.0, eta_max=3.0)


def test_defaults_and_stored_types():
    p = vista.params([2, 4, 8], [1, 2, 3], eta_min=2, eta_max=8)  # integers in, floats stored
    assert (p.lam.tolist(), p.alpha0.tolist(), p.beta, p.oracle.tolist(), p.batch) == ([1.0], [0.1], 0.9, [False], 1)
    assert p.eta_grid.dtype == float and p.mse_curve.dtype == float and p.lam.dtype == float
    assert (p.lo.tolist(), p.hi.tolist()) == ([0], [2])
    state = vista.init(p, 2)
    assert state.a.dtype.kind == "i" and state.s.dtype.kind == "i"  # counters, written as integer columns


def test_parameter_checks_name_each_bound():
    import pytest

    with pytest.raises(ValueError, match=r"eta_max: 9.0 is not on the equilibrium grid \[2..8\]"):
        vista.params(GRID, MSE, eta_min=2.0, eta_max=9.0)
    bad = [{"lam": 0.0}, {"alpha0": 0.0}, {"beta": 1.0}, {"beta": 1.5}, {"beta": -0.1}, {"lam": -1.0, "alpha0": -1.0}]
    for kw in bad:
        with pytest.raises(ValueError, match=r"lam, alpha0 must be > 0 and beta in \[0, 1\); got"):
            make(**kw)
    assert make(beta=0.0).beta == 0.0  # beta = 0: G is the last estimate alone, allowed
    # a grid value within 1e-9 is that grid value
    assert vista.params(GRID, MSE, eta_min=2.0 + 5e-10, eta_max=8.0).lo.tolist() == [0]
    assert vista.params([0.0, 1.0], [0.0, 1.0], eta_min=1e-9, eta_max=1.0).lo.tolist() == [0]  # 1e-9 inclusive


def test_oracle_without_the_true_norm_names_the_field():
    import pytest

    p = make(batch=1, oracle=True)
    with pytest.raises(ValueError, match=r"^grad_sq: the oracle variant needs \|\|grad f\(theta_1\)\|\|\^2 at init$"):
        vista.init(p, 3)
    s = vista.init(p, 3, grad_sq=np.ones(1))
    with pytest.raises(ValueError, match=r"^grad_sq: the oracle variant needs .* each round$"):
        vista.update(p, s, np.array([True]), np.zeros((1, 3)))


def test_concat_checks_every_part_and_select_undoes_it():
    import pytest

    parts = [make(batch=2, lam=0.5, beta=0.5), make(batch=1, eta_min=4.0, eta_max=4.0, alpha0=0.3, beta=0.5),
             make(batch=3, oracle=True, beta=0.5)]
    p = vista.concat(parts)
    assert p.batch == 6 and np.array_equal(p.eta_grid, GRID) and np.array_equal(p.mse_curve, MSE)
    for rows, part in [([0, 1], parts[0]), ([2], parts[1]), ([3, 4, 5], parts[2])]:
        back = vista.select(p, rows)
        for name in ("eta_grid", "mse_curve", "lam", "alpha0", "lo", "hi", "oracle"):
            assert np.array_equal(getattr(back, name), getattr(part, name)), name
        assert back.beta == part.beta
    assert vista.concat(parts[:1]).batch == 2
    other_beta = make(batch=1, beta=0.9)
    other_grid = vista.params(GRID * 2, MSE, eta_min=4.0, eta_max=16.0, beta=0.5)
    for odd in (other_beta, other_grid):
        for position in range(3):  # wherever the odd part sits, it is refused
            mixed = [parts[0], parts[1]]
            mixed.insert(position, odd)
            with pytest.raises(ValueError, match="^methods in one batch must share the equilibrium grid and beta$"):
                vista.concat(mixed)


def test_the_baselines_schedule_decays_over_every_accepted_round_while_vistas_waits_for_saturation():
    """Large accepted estimates keep VISTA adaptive (eta at eta_max, never saturated): its own step stays alpha0,
    and with decay_all it is alpha0 / sqrt(1 + a) after a accepted rounds, as a constant-eta baseline's."""
    p = vista.concat([make(batch=1), make(batch=1, decay_all=True)])
    state = vista.init(p, 3)
    for _ in range(8):
        state = vista.update(p, state, np.array([True, True]), np.full((2, 3), 100.0))
    assert state.a.tolist() == [8, 8] and state.s.tolist() == [0, 0]
    assert vista.learning_rate(p, state).tolist() == [0.1, 0.1 / 3.0]
    assert vista.select(p, [1]).decay_all.tolist() == [True]
