"""The adversary's best response and its noise law: the two envelope vertices that bracket alpha* (not their
neighbours), checked on a hand-made envelope and, on the game's own kernels, against a brute-force search over
every two-radius mixture."""
import numpy as np
import pytest

from economics import response
from economics.game import GameSpec
from economics.response import game_kernel, game_utility, respond

# A hand-made game: the kernel is a step function of the radius, so the achievable (p, h) pairs are five points.
# Upper envelope from the origin: (0.2, 1.0), (0.4, 1.2), (0.9, 0.7), (1.0, 0.5); (0.05, 0.1) lies below it.
# With kappa = 2 the log utility is log(scale h / p) + 2 log p = log(scale p h) and on the segment
# (0.4, 1.2)-(0.9, 0.7), h = 1.6 - p, p h peaks at p = 0.8 (p h = 0.64, above every vertex: 0.2, 0.48, 0.63, 0.5).
STEPS = [(1.0, 0.5), (0.9, 0.7), (0.4, 1.2), (0.2, 1.0), (0.05, 0.1)]  # radius in [0, 1), [1, 2), ..., [4, 5]
SCALE = 0.25


def step_kernel(r, tau):
    table = np.array(STEPS)[np.minimum(np.asarray(r, dtype=int), len(STEPS) - 1)]
    return table[:, 0], table[:, 1]


def test_hand_made_envelope_mixes_the_two_bracketing_vertices(monkeypatch):
    monkeypatch.setattr(response, "game_kernel", lambda spec: (step_kernel, SCALE))
    out = respond(GameSpec(kappa=2.0, delta=1.0), eta=4.0)  # radii on [0, tau + Delta] = [0, 5]
    assert out.p_accept == pytest.approx(0.8, abs=1e-6)
    assert out.mse == pytest.approx(SCALE * (1.6 - 0.8) / 0.8, rel=1e-6)
    # (0.4, 1.2) w.p. 0.2 and (0.9, 0.7) w.p. 0.8: mean acceptance 0.8, mean damage 0.8
    np.testing.assert_allclose(out.weights, [0.2, 0.8], atol=1e-6)
    assert 2 <= out.radii[0] < 3 and 1 <= out.radii[1] < 2


def law(spec, eta, out):
    """(acceptance, MSE) that the returned noise law really achieves, by the game's kernel."""
    kernel, scale = game_kernel(spec)
    p, h = kernel(out.radii, eta * spec.delta)
    p_law = float(out.weights @ p)
    return p_law, scale * float(out.weights @ h) / p_law


def brute_force(spec, eta, points=300, weights=51):
    """max U over every mixture of two radii of a uniform grid on [0, tau + Delta] and the never-accepted report."""
    kernel, scale = game_kernel(spec)
    tau = eta * spec.delta
    p, h = kernel(np.linspace(0.0, tau + spec.delta, points), tau)
    p, h = np.append(p, 0.0), np.append(h, 0.0)
    w = np.linspace(0.0, 1.0, weights)[:, None, None]
    alpha = w * p[None, :, None] + (1 - w) * p[None, None, :]
    psi = w * h[None, :, None] + (1 - w) * h[None, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = game_utility(spec)(scale * psi / alpha, alpha)
    return float(np.nanmax(np.where(alpha > 0, u, -np.inf)))


# mixtures on an inner envelope segment (d = 2), on the last one (d = 1) and pure strategies
CASES = [(2, 2.0, 1.1), (2, 3.0, 1.3), (1, 2.0, 1.0), (1, 3.0, 2.0), (3, 1.0, 1.5), (1, 0.5, 4.0), (10, 1.0, 2.0)]


@pytest.mark.parametrize("dim, kappa, eta", CASES)
def test_noise_law_achieves_the_reported_equilibrium(dim, kappa, eta):
    spec = GameSpec(dim=dim, kappa=kappa)
    out = respond(spec, eta)
    p_law, mse_law = law(spec, eta, out)
    assert p_law == pytest.approx(out.p_accept, abs=1e-4)
    assert mse_law == pytest.approx(out.mse, rel=1e-4)
    assert np.all(out.weights >= 0) and out.weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("dim, kappa, eta", CASES)
def test_best_response_matches_a_brute_force_search_over_mixtures(dim, kappa, eta):
    spec = GameSpec(dim=dim, kappa=kappa)
    out = respond(spec, eta)
    utility = game_utility(spec)
    best = brute_force(spec, eta)
    claimed = float(utility(out.mse, out.p_accept))
    achieved = float(utility(*law(spec, eta, out)[::-1]))
    # the solver's finer grid may beat the brute force's, but not by more than its grid can explain
    assert best - 1e-6 <= claimed <= best + 2e-3
    assert achieved == pytest.approx(claimed, abs=1e-4)
