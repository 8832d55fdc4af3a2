"""The honest report's distance law: ||y - grad f|| <= Delta always, uniform in the Delta-ball, so
P(||y - grad f|| <= x) = (x / Delta)^d. A radius off by a factor (2 Delta, 0.9 Delta) fails by a wide margin."""
import numpy as np
import pytest
from scipy import stats

from nodes.context import RoundContext
from nodes.honest import HonestReport

DRAWS = 20_000
DELTA = 0.7


def offsets(dim: int, seed: int = 11) -> np.ndarray:
    """y - grad f for DRAWS independent honest reports around a random gradient."""
    rng = np.random.default_rng(seed)
    grad = rng.normal(0.0, 5.0, (DRAWS, dim))
    ctx = RoundContext(grad, np.full(DRAWS, 3.0), np.zeros(DRAWS, dtype=int), np.zeros((DRAWS, 0, dim)), rng)
    return HonestReport(DELTA)(ctx) - grad


def ball_cdf(dim: int, radius: float = DELTA):
    return lambda x: np.clip(np.asarray(x) / radius, 0.0, 1.0) ** dim


@pytest.mark.parametrize("dim", [1, 3, 64])
def test_distance_is_within_delta_and_follows_the_uniform_ball_law(dim):
    r = np.linalg.norm(offsets(dim), axis=1)
    assert r.max() <= DELTA * (1 + 1e-12)
    assert stats.kstest(r, ball_cdf(dim)).pvalue > 1e-3
    # the same draws as if the radius were 0.9 Delta or 2 Delta: rejected by a wide margin, so DRAWS is enough
    assert stats.kstest(r, ball_cdf(dim, 0.9 * DELTA)).pvalue < 1e-12
    assert stats.kstest(r, ball_cdf(dim, 2.0 * DELTA)).pvalue < 1e-12


@pytest.mark.parametrize("dim", [1, 3, 64])
def test_noise_is_centred_and_isotropic(dim):
    """Directions are uniform: the mean offset is 0 and each coordinate carries E r^2 / d = Delta^2 / (d + 2)."""
    z = offsets(dim, seed=12)
    var = DELTA**2 / (dim + 2)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=5 * np.sqrt(var / DRAWS))
    np.testing.assert_allclose((z**2).mean(axis=0), var, rtol=0.08)


def test_reports_are_fresh_each_call():
    rng = np.random.default_rng(0)
    grad = np.zeros((2, 3))
    ctx = RoundContext(grad, np.ones(2), np.zeros(2, dtype=int), np.zeros((2, 0, 3)), rng)
    honest = HonestReport(1.0)
    a, b = honest(ctx), honest(ctx)
    assert not np.array_equal(a, b) and not np.array_equal(a[0], a[1])
