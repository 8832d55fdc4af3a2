import numpy as np
import pytest

from economics import GameSpec, solve
from economics.kernels import ball_kernels, interval_kernels
from economics.multinode import ball_mean_kernels, sampled_kernels, scalar_kernels
from economics.response import price_curve

ALPHA = np.array([0.1, 0.3, 0.5, 0.7, 0.9])


def sampled_reports(rng, z: float, honest: int, adversaries: int, draws: int) -> np.ndarray:
    """Scalar reports minus u: h uniform honest noises and t copies of the adversary's z."""
    return np.concatenate([rng.uniform(-1, 1, (draws, honest)), np.full((draws, adversaries), z)], axis=1)


@pytest.mark.parametrize("honest, adversaries", [(2, 1), (2, 3), (4, 2)])
@pytest.mark.parametrize("estimator", ["midrange", "mean"])
def test_scalar_kernels_match_monte_carlo(honest, adversaries, estimator, rng):
    draws, tau = 200_000, 2.2
    for z in [0.0, 0.7, 1.5, 2.6]:
        y = sampled_reports(rng, z, honest, adversaries, draws)
        accepted = y.max(axis=1) - y.min(axis=1) <= tau
        estimate = (y.max(axis=1) + y.min(axis=1)) / 2 if estimator == "midrange" else y.mean(axis=1)
        damage = estimate**2 * accepted
        p, e = scalar_kernels(np.array([z]), tau, 1.0, honest, adversaries, estimator)
        assert abs(p[0] - accepted.mean()) <= 4 * accepted.std() / np.sqrt(draws) + 1e-12
        assert abs(e[0] - damage.mean()) <= 4 * damage.std() / np.sqrt(draws) + 1e-12


def test_sybil_copies_change_nothing_for_the_midrange(rng):
    """With t copies of z the midrange and the range test see the same set of values as with one copy."""
    y_one = sampled_reports(rng, 0.8, 1, 1, 100_000)
    y_many = np.concatenate([y_one, np.repeat(y_one[:, 1:], 3, axis=1)], axis=1)
    for y in (y_one, y_many):
        accepted = y.max(axis=1) - y.min(axis=1) <= 2.0
        damage = ((y.max(axis=1) + y.min(axis=1)) / 2) ** 2 * accepted
        p, h = interval_kernels(np.array([0.8]), 2.0, 1.0)
        assert abs(p[0] - accepted.mean()) <= 4 * accepted.std() / np.sqrt(y.shape[0])
        assert abs(h[0] / 4 - damage.mean()) <= 4 * damage.std() / np.sqrt(y.shape[0])


@pytest.mark.parametrize("honest", [1, 2])
def test_sybil_equality_midrange(honest, tmp_path):
    eta = np.array([1.5, 2.0, 4.0])
    one = solve(GameSpec(honest=honest, estimator="midrange"), eta, cache_dir=tmp_path, progress=False)
    many = solve(GameSpec(honest=honest, adversaries=4, estimator="midrange"), eta, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(many.p_accept, one.p_accept, atol=1e-6)
    np.testing.assert_allclose(many.mse, one.mse, rtol=1e-6)
    np.testing.assert_allclose(many.radii, one.radii, atol=1e-5)


def test_midrange_two_nodes_is_the_average(tmp_path):
    """(h = 1, t = 4) midrange against the plain two-node game."""
    eta = np.array([1.0, 2.0, 4.0])
    sybil = solve(GameSpec(adversaries=4, estimator="midrange", kappa=2), eta, cache_dir=tmp_path, progress=False)
    two = solve(GameSpec(kappa=2), eta, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(sybil.mse, two.mse, rtol=1e-9)


@pytest.mark.parametrize(
    "honest, reference", [(1, [3.42, 2.41, 1.58, 0.94, 0.49]), (2, [2.18, 1.20, 0.70, 0.41, 0.23])]
)
def test_midrange_price_reference(honest, reference):
    """c(alpha) at eta = 2, Delta = 1 (given to 2 decimals)."""
    for adversaries in (1, 3):
        spec = GameSpec(honest=honest, adversaries=adversaries, estimator="midrange")
        np.testing.assert_allclose(price_curve(spec, 2.0, ALPHA), reference, atol=6e-3)


def test_mean_is_not_sybil_resistant():
    """eta = 2: two colluders raise c(0.5) from 1.58 to 2.26."""
    one = price_curve(GameSpec(), 2.0, ALPHA)
    two = price_curve(GameSpec(adversaries=2), 2.0, ALPHA)
    assert one[2] == pytest.approx(1.58, abs=6e-3) and two[2] == pytest.approx(2.26, abs=6e-3)
    assert np.all(two > one)
    many_honest = price_curve(GameSpec(honest=2), 2.0, ALPHA)
    assert np.all(price_curve(GameSpec(honest=2, adversaries=3), 2.0, ALPHA) > many_honest)


def test_sampled_kernels_match_the_exact_scalar_kernels():
    """The Monte Carlo vector kernel, run in d = 1, against the exact scalar one."""
    z = np.array([0.0, 0.8, 1.6, 2.4])
    p, e = sampled_kernels(z, 2.0, 1.0, 1, 3, 2)
    p_ref, e_ref = scalar_kernels(z, 2.0, 1.0, 3, 2, "mean")
    np.testing.assert_allclose(p, p_ref, atol=0.015)
    np.testing.assert_allclose(e, e_ref, atol=0.01)


def test_vector_many_honest_nodes_by_monte_carlo(tmp_path):
    spec = GameSpec(dim=3, honest=2, adversaries=2)
    assert spec.monte_carlo
    table = solve(spec, np.array([2.0, 4.0]), cache_dir=tmp_path, progress=False)
    assert np.all((table.p_accept > 0) & (table.p_accept <= 1)) and np.all(np.diff(table.mse) > 0)


@pytest.mark.parametrize("dim, honest, adversaries", [(3, 2, 1), (3, 3, 7), (10, 4, 2)])
def test_exact_vector_kernels_match_monte_carlo(dim, honest, adversaries, ball_noise):
    """tau >= 2 Delta: accept iff every honest noise is within tau of z; damage ||mean - u||^2 on acceptance."""
    draws = 100_000
    noise = ball_noise(draws * honest, dim).reshape(draws, honest, dim)
    for tau in (2.0, 2.6):
        for r in (0.0, 0.9, 1.8, 2.9):
            z = np.zeros(dim)
            z[0] = r
            accepted = np.all(np.linalg.norm(noise - z, axis=2) <= tau, axis=1)
            damage = np.sum((noise.sum(axis=1) + adversaries * z) ** 2, axis=1) / (honest + adversaries) ** 2 * accepted
            p, e = ball_mean_kernels(np.array([r]), tau, 1.0, dim, honest, adversaries)
            assert abs(p[0] - accepted.mean()) <= 4 * accepted.std() / np.sqrt(draws) + 1e-6  # 1e-6: rarer than 1/draws
            assert abs(e[0] - damage.mean()) <= 4 * damage.std() / np.sqrt(draws) + 1e-6


def test_exact_vector_kernels_with_one_honest_node_are_the_ball_kernels():
    r = np.array([0.0, 0.5, 1.7, 2.4])
    p, e = ball_mean_kernels(r, 2.2, 1.0, 50, 1, 4)
    p1, h1 = ball_kernels(r, 2.2, 1.0, 50, pull=4)
    np.testing.assert_allclose(p, p1)
    np.testing.assert_allclose(e, h1 / 25)


def test_neural_network_dimension_is_exact_from_eta_two_and_refused_below(tmp_path):
    """d = 61,706 (LeNet-5), 3 honest + 7 colluding: the table solves at eta >= 2 without sampling; below 2 the
    Monte Carlo kernel would need 3.7e9 floats and is refused with the fix."""
    spec = GameSpec(dim=61_706, honest=3, adversaries=7)
    table = solve(spec, np.array([2.0, 3.0]), cache_dir=tmp_path, progress=False)
    assert np.all(table.p_accept > 0.9) and np.all(np.diff(table.mse) > 0)
    # high d: the adversary sits near the knee sqrt(eta^2 - 1) Delta and MSE ~ (h Delta^2 + t^2 r^2) / (h + t)^2
    knee = np.sqrt(np.array([2.0, 3.0]) ** 2 - 1)
    np.testing.assert_allclose(table.radii[:, 0], knee, rtol=0.02)
    np.testing.assert_allclose(table.mse, (3 + 49 * table.radii[:, 0] ** 2) / 100, rtol=0.02)
    with pytest.raises(ValueError, match="start the eta grid at 2"):
        solve(spec, np.array([1.5]), cache_dir=tmp_path, progress=False)
