"""The learning adversary (nodes/learning.py): its pieces against hand-made cases, and a seeded run in which its
play approaches the solver's equilibrium while the equilibrium adversary's realised P_A and MSE sit inside their
intervals around the solver's."""
import numpy as np
import pytest

from nodes import learning
from nodes.context import RoundContext
from sims.learning_experiments import run_learning, wilson
from sims.vista_config import LearningConfig

PARAMS = learning.LearnerParams(delta=1.0, etas=2, arms=5, weights=101)


def brute_force(params, p, m):
    """The best two-arm law by exhaustive search over pairs and a fine weight grid."""
    best, arg = -np.inf, None
    for i in range(len(p)):
        for j in range(len(p)):
            for w in np.linspace(0, 1, params.weights):
                u = learning.law_utility(params, np.array(w * p[i] + (1 - w) * p[j]),
                                         np.array(w * m[i] + (1 - w) * m[j]))
                if u > best:
                    best, arg = u, (i, j, w)
    return best, arg


def test_the_greedy_law_is_the_best_two_arm_mixture():
    """Small radii pass always with little error, large ones rarely with much. At kappa = 2 the log utility's
    best law mixes two radii (no single arm is best), and greedy finds the exhaustive search's value. (At
    kappa = 1, U = log E[err^2 1{acc}] is the log of a linear function of the law: a pure arm is always best.)"""
    params = learning.LearnerParams(delta=1.0, etas=2, arms=5, weights=101, kappa=2.0)
    p = np.array([1.0, 0.95, 0.3, 0.05, 0.0])
    m = np.array([0.1, 0.3, 1.5, 0.4, 0.0])  # E[err^2 1{acc}]
    i, j, w = learning.greedy(params, p[None], m[None])
    got = learning.law_utility(params, w * p[i] + (1 - w) * p[j], w * m[i] + (1 - w) * m[j])
    best, (bi, bj, _) = brute_force(params, p, m)
    assert got[0] == pytest.approx(best) and {int(i[0]), int(j[0])} == {bi, bj} == {1, 2}
    single = max(learning.law_utility(params, p[a], m[a]) for a in range(4))
    assert best > single + 0.2  # the mixture beats every pure radius here


def test_unplayed_arms_come_first_and_update_counts_each_run_at_its_eta():
    state = learning.init(PARAMS, batch=2)
    rng = np.random.default_rng(0)
    eta = np.array([0, 1])
    seen = []
    for _ in range(PARAMS.arms):
        arms = learning.act(PARAMS, state, eta, rng)
        seen.append(arms)
        state = learning.update(state, eta, arms, np.array([True, False]), np.array([2.0, np.nan]))
    assert sorted(np.array(seen)[:, 0]) == list(range(PARAMS.arms))  # each arm once before any repeat
    assert state.plays[0, 0].tolist() == [1] * PARAMS.arms and state.plays[0, 1].sum() == 0
    assert state.accepts[1].sum() == 0 and state.err2[1].sum() == 0  # run 1 was never accepted
    assert state.err2[0, 0].tolist() == [2.0] * PARAMS.arms


def test_noise_has_the_arm_radius_in_units_of_tau_plus_delta():
    arms = np.array([0, 2, 4])
    z = learning.noise(PARAMS, arms, np.array([3.0, 3.0, 1.0]), 7, np.random.default_rng(1))
    assert np.linalg.norm(z, axis=1) == pytest.approx([0.0, 0.5 * 4.0, 1.0 * 2.0])


def test_observe_needs_a_round_played():
    adv = learning.LearningAdversary.start(PARAMS, batch=1)
    with pytest.raises(RuntimeError, match="no round played"):
        adv.observe(np.array([True]), np.array([0.1]))
    rng = np.random.default_rng(2)
    y = adv(RoundContext(np.zeros((1, 3)), np.array([2.0]), np.array([1]), np.zeros((1, 0, 3)), rng))
    assert y.shape == (1, 3)
    assert adv.observe(np.array([True]), np.array([0.1])).shape == (1,)


def test_wilson_interval_covers_the_rate_and_shrinks():
    lo, hi = wilson(np.array([30, 300]), np.array([100, 1000]))
    assert (lo < 0.3).all() and (hi > 0.3).all() and hi[1] - lo[1] < hi[0] - lo[0]


@pytest.mark.slow
def test_the_learner_approaches_the_equilibrium_and_the_equilibrium_adversary_matches_the_solver():
    """quad3d, 1 honest + 1 adversary, constant eta = 2 and 4, 4 runs x 1200 rounds (seeded). Over the last half:
    the equilibrium adversary's P_A and MSE intervals contain the solver's; the learner plays radii within 0.06
    of the equilibrium's (in units of tau + Delta) and its utility comes within 0.15 of the equilibrium's, never
    above it by more than its noise."""
    cfg = LearningConfig(runs=4, rounds=1200, baselines=[2.0, 4.0], seed=3)
    tables = run_learning(cfg)
    play = tables["play"].set_index(["adversary", "eta"])
    for eta in (2.0, 4.0):
        eq, learned = play.loc[("equilibrium", eta)], play.loc[("learning", eta)]
        assert eq["p_lo"] <= eq["p_star"] <= eq["p_hi"]
        assert eq["mse_lo"] <= eq["mse_star"] <= eq["mse_hi"]
        assert abs(learned["rho"] - learned["rho_star"]) < 0.06
        assert learned["utility_star"] - 0.15 < learned["utility"] < learned["utility_star"] + 0.05
    rounds = tables["rounds"]
    assert set(rounds["adversary"]) == {"learning", "equilibrium"}
    assert rounds.loc[rounds["adversary"] == "learning", "rho"].notna().all()
