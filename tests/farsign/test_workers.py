"""Honest workers and attacks: what each sends."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coordinator import directions, farsign
from nodes import attacks as classic
from nodes import farsign_attacks as fa
from nodes.farsign_workers import FirstOrder, WithAdversaries, ZerothOrder
from sims.farsign_experiments import CauchyRegression, NoisyObjective, Rosenbrock


def test_first_order_sends_the_projected_minibatch_gradient(design, objective):
    x = np.linspace(-1, 1, design.dim)
    workers = list(range(design.workers))
    got = FirstOrder(objective, design.project)(workers, x, 0, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    g = objective.grads(x, [objective.sample(j, rng) for j in workers])
    for j in workers:
        assert got[j] == pytest.approx(design.rows(j) @ g[j])


def test_zeroth_order_matches_the_directional_derivative_and_cancels_common_noise():
    f = NoisyObjective(Rosenbrock(4), noise=3.0)  # the noise term xi^T x cancels in the two-point difference
    design = directions.gaussian(4, 2, 3, seed=0)
    p = farsign.params(design, "zeroth-order", c0=1e-4)
    x = np.array([0.3, -0.2, 0.5, 0.1])
    zo = ZerothOrder(f, design.rows, p.perturbation, chunk=2)
    got = zo([0, 1], x, 10, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    for j in (0, 1):
        xi = f.sample(j, rng)
        assert got[j] == pytest.approx(design.rows(j) @ (f.f.grad(x) + xi), rel=1e-5)


@pytest.mark.parametrize("attack,check", [
    (classic.SignFlip(), lambda v, h, ref, old: np.allclose(v, -h)),
    (fa.Constant(1e6), lambda v, h, ref, old: np.all(v == 1e6)),
    (fa.Constant(-1.0), lambda v, h, ref, old: np.all(v == -1.0)),
    (classic.Gaussian(10.0), lambda v, h, ref, old: v.shape == h.shape and np.abs(v - h).max() > 1.0),
    (classic.NonFinite(math.nan), lambda v, h, ref, old: np.isnan(v).all()),
    (classic.NonFinite(math.inf), lambda v, h, ref, old: np.isposinf(v).all()),
    (fa.RandomSigns(), lambda v, h, ref, old: set(np.unique(v)) <= {-1.0, 1.0}),
    (fa.OppositeMean(), lambda v, h, ref, old: np.allclose(v, -ref)),
    (fa.StaleReplay(), lambda v, h, ref, old: np.allclose(v, old) and not np.allclose(v, h)),
])
def test_adversaries_send_their_attack_and_honest_workers_are_untouched(attack, check):
    exact = NoisyObjective(CauchyRegression(dim=6, samples=50), noise=0.0)  # honest report = grad f(x)
    d = directions.replicated_basis(6, 4)
    honest = FirstOrder(exact, d.project)
    x0, x = np.zeros(6), np.full(6, 0.7)
    pool = WithAdversaries(honest, frozenset({3}), attack, x0)
    sent = pool([0, 3], x, 9, np.random.default_rng(1))
    assert sent[0] == pytest.approx(exact.f.grad(x))
    assert check(sent[1], exact.f.grad(x), exact.f.grad(x), exact.f.grad(x0))
