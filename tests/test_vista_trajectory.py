"""VISTA over a few rounds against a plain-Python replay of Algorithm 1: the EMA, its bias correction, the
noise target lam G, the announced eta index, the counters a and s and the learning rate, value by value.

The reference below re-derives every quantity with lists and floats, sharing nothing with coordinator.vista.
beta = 0.75 keeps the first rounds dyadic, so G is exact there and a target lands exactly on a grid value.
"""
import math

import numpy as np
import pytest

from coordinator import vista

GRID = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
MSE = [0.5, 1.0, 2.0, 1.8, 4.0, 8.0, 16.0]  # dips at 2.5: MSE^{-1} reads the running maximum
BETA = 0.75

# (accepted, estimate): accepted adaptive rounds, a rejection, saturated rounds, a rejection while saturated
ROUNDS = [
    (True, [4.0, 0.0]),
    (False, [100.0, 100.0]),
    (True, [0.0, 1.0]),
    (True, [0.5, 0.5]),
    (False, [-50.0, 3.0]),
    (True, [6.0, -6.0]),
    (True, [0.0, 0.0]),
    (True, [-20.0, 9.0]),
]


def threshold(target, lo, hi):
    """clip(MSE^{-1}(target)): the last grid index whose running-maximum MSE is within the target."""
    ceiling, running = [], -math.inf
    for v in MSE:
        running = max(running, v)
        ceiling.append(running)
    admissible = [i for i, c in enumerate(ceiling) if c <= target]
    return min(max(admissible[-1] if admissible else lo, lo), hi)


def reference(rounds, *, lam, alpha0, eta_min, eta_max, beta=BETA):
    """Algorithm 1 by hand: per round (eta index announced next, eta, alpha, a, s, m, G of the last accepted round)."""
    lo, hi = GRID.index(eta_min), GRID.index(eta_max)
    idx, m, a, s, g2 = hi, [0.0, 0.0], 0, 0, None
    out = []
    for accepted, g in rounds:
        if accepted:
            s += idx == lo  # a round run at eta_min counts towards the decay
            a += 1
            m = [beta * mi + (1 - beta) * gi for mi, gi in zip(m, g)]
            g2 = sum((mi / (1 - beta**a)) ** 2 for mi in m)
            idx = threshold(lam * g2, lo, hi)
        out.append({"idx": idx, "eta": GRID[idx], "alpha": alpha0 / math.sqrt(1 + s), "a": a, "s": s, "m": m, "G": g2})
    return out


def replay(p, rounds):
    state = vista.init(p, 2)
    out = []
    for accepted, g in rounds:
        state = vista.update(p, state, np.array([accepted] * p.batch), np.array([g] * p.batch))
        out.append(state)
    return out


def test_hand_computed_first_rounds():
    """The reference itself, checked by hand: G is ||g_1||^2 after one accepted round (the bias correction undoes
    the EMA's (1 - beta)), (beta g_1 + g_2)^2 / (1 + beta)^2 after two, and rejections change nothing."""
    ref = reference(ROUNDS, lam=0.5, alpha0=0.2, eta_min=1.5, eta_max=3.5)
    assert ref[0]["G"] == 16.0 and ref[0]["m"] == [1.0, 0.0]
    assert ref[0]["idx"] == 5  # lam G = 8 = MSE at 3.5, exactly on the grid value: admissible
    assert ref[1] == ref[0]
    assert ref[2]["G"] == pytest.approx((3.0**2 + 1.0) / 1.75**2) and ref[2]["idx"] == 1  # lam G = 1.63: eta 1.5
    assert (ref[3]["s"], ref[4]["s"], ref[5]["s"], ref[6]["s"]) == (1, 1, 2, 2)  # rounds 4, 6 ran at eta_min


@pytest.mark.parametrize("lam, alpha0, eta_min, eta_max", [(0.5, 0.2, 1.5, 3.5), (2.0, 0.05, 1.0, 4.0),
                                                          (0.5, 0.2, 2.5, 2.5)])
def test_trajectory_matches_the_hand_replay(lam, alpha0, eta_min, eta_max):
    p = vista.params(GRID, MSE, eta_min=eta_min, eta_max=eta_max, lam=lam, alpha0=alpha0, beta=BETA, repeat=2)
    ref = reference(ROUNDS, lam=lam, alpha0=alpha0, eta_min=eta_min, eta_max=eta_max)
    assert vista.eta(p, vista.init(p, 2)).tolist() == [eta_max] * 2
    for t, (state, want) in enumerate(zip(replay(p, ROUNDS), ref)):
        assert state.eta_index.tolist() == [want["idx"]] * 2, f"round {t + 1}"
        assert vista.eta(p, state).tolist() == [want["eta"]] * 2
        assert state.a.tolist() == [want["a"]] * 2 and state.s.tolist() == [want["s"]] * 2, f"round {t + 1}"
        assert vista.learning_rate(p, state).tolist() == [want["alpha"]] * 2
        assert vista.saturated(p, state).tolist() == [want["idx"] == GRID.index(eta_min)] * 2
        np.testing.assert_allclose(state.m, [want["m"]] * 2, rtol=1e-14, atol=0)


def test_trajectory_visits_adaptive_and_saturated_rounds():
    """The parameters above exercise every branch: eta at the top, inside, and clipped at eta_min."""
    ref = reference(ROUNDS, lam=0.5, alpha0=0.2, eta_min=1.5, eta_max=3.5)
    visited = {r["idx"] for r in ref}
    assert {1, 5} <= visited and visited - {1, 5}
    assert ref[-1]["s"] < ref[-1]["a"]


def test_announced_eta_reads_g_off_an_identity_curve():
    """MSE*(eta) = eta on a 0.001 grid: the announced eta is lam G rounded down to the grid, so G itself is
    pinned to 1e-3 every round (the EMA's weights and the bias correction each move it by far more)."""
    grid = np.round(np.arange(0.0, 60.0005, 0.001), 6)
    p = vista.params(grid, grid, eta_min=0.0, eta_max=60.0, lam=0.7, beta=0.9, repeat=1)
    rng = np.random.default_rng(4)
    state, m = vista.init(p, 3), [0.0, 0.0, 0.0]
    for a in range(1, 13):
        g = rng.normal(0.0, 2.0, 3)
        state = vista.update(p, state, np.array([True]), g[None])
        m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m, g)]
        target = 0.7 * sum((mi / (1 - 0.9**a)) ** 2 for mi in m)
        assert target < 60.0
        assert vista.eta(p, state)[0] == pytest.approx(math.floor(target * 1000) / 1000, abs=1.5e-3), f"round {a}"


def test_rows_of_a_batch_follow_their_own_parameters():
    """VISTA, a constant-eta baseline and the oracle variant in one batch: each row replays as if alone."""
    parts = [vista.params(GRID, MSE, eta_min=1.5, eta_max=3.5, lam=0.5, alpha0=0.2, beta=BETA),
             vista.params(GRID, MSE, eta_min=2.5, eta_max=2.5, lam=0.5, alpha0=0.2, beta=BETA),
             vista.params(GRID, MSE, eta_min=1.0, eta_max=4.0, lam=1.0, alpha0=0.1, beta=BETA, oracle=True)]
    p = vista.concat(parts)
    oracle_sq = [9.0, 9.0, 0.1, 1.7, 1.7, 30.0, 2.5, 4.0]  # ||grad f(theta_{t+1})||^2 as the driver would pass
    state = vista.init(p, 2, grad_sq=np.array([0.0, 0.0, 10.0]))
    assert state.eta_index.tolist() == [5, 3, 5]  # the oracle starts from lam ||grad f(theta_1)||^2 = 10: eta 3.5
    ref = [reference(ROUNDS, lam=0.5, alpha0=0.2, eta_min=1.5, eta_max=3.5),
           reference(ROUNDS, lam=0.5, alpha0=0.2, eta_min=2.5, eta_max=2.5)]
    s_oracle, idx_oracle = 0, 5
    for t, (accepted, g) in enumerate(ROUNDS):
        state = vista.update(p, state, np.array([accepted] * 3), np.array([g] * 3),
                             grad_sq=np.array([0.0, 0.0, oracle_sq[t]]))
        if accepted:  # oracle: eta from the true norm, clipped to [1.0, 4.0] (idx 0..6); decay at eta_min
            s_oracle += idx_oracle == 0
            idx_oracle = threshold(oracle_sq[t], 0, 6)
        assert state.eta_index.tolist() == [ref[0][t]["idx"], ref[1][t]["idx"], idx_oracle], f"round {t + 1}"
        assert state.s.tolist() == [ref[0][t]["s"], ref[1][t]["s"], s_oracle]
        assert vista.learning_rate(p, state).tolist() == [ref[0][t]["alpha"], ref[1][t]["alpha"],
                                                          0.1 / math.sqrt(1 + s_oracle)]
    np.testing.assert_array_equal(vista.select(p, [1]).lo, [3])
