import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import beta

from economics.envelope import price, upper_envelope, vertices
from economics.kernels import ball_kernels, cap_mass, cap_moment, interval_kernels


@pytest.mark.parametrize("tau", [0.4, 1.0, 2.5])
@pytest.mark.parametrize("pull", [1.0, 3.0])
def test_interval_kernels_match_direct_integration(tau, pull):
    for r in [0.0, 0.3, 1.2, 2.0, 3.4, 5.0]:
        p, h = interval_kernels(np.array([r]), tau, 1.0, pull)
        p_ref = quad(lambda x: (abs(x - r) <= tau) / 2, -1, 1, points=[r - tau, r + tau])[0]
        h_ref = quad(lambda x: (x + pull * r) ** 2 * (abs(x - r) <= tau) / 2, -1, 1, points=[r - tau, r + tau])[0]
        assert p[0] == pytest.approx(p_ref, abs=1e-9)
        assert h[0] == pytest.approx(h_ref, abs=1e-9)


def test_interval_flat_zone():
    r = np.linspace(0, 1.5, 7)  # tau - Delta = 1.5
    p, h = interval_kernels(r, 2.5, 1.0)
    np.testing.assert_allclose(p, 1.0)
    np.testing.assert_allclose(h, r**2 + 1 / 3)


@pytest.mark.parametrize("dim", [2, 3, 7])
def test_cap_functions_match_the_cosine_density(dim):
    density = lambda c: (1 - c**2) ** ((dim - 3) / 2) / beta(0.5, (dim - 1) / 2)
    for c in [-0.9, -0.2, 0.0, 0.5, 0.95]:
        assert cap_mass(np.array([c]), dim)[0] == pytest.approx(quad(density, c, 1)[0], abs=1e-8)
        assert cap_moment(np.array([c]), dim)[0] == pytest.approx(quad(lambda t: t * density(t), c, 1)[0], abs=1e-8)


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_ball_kernels_match_monte_carlo(dim, ball_noise):
    n = ball_noise(200_000, dim)
    tau, pull = 1.7, 2.0
    for r in [0.0, 0.5, 1.2, 2.2]:
        z = np.zeros(dim)
        z[0] = r
        accepted = np.linalg.norm(n - z, axis=1) <= tau
        damage = np.sum((n + pull * z) ** 2, axis=1) * accepted
        p, h = ball_kernels(np.array([r]), tau, 1.0, dim, pull=pull)
        assert abs(p[0] - accepted.mean()) <= 4 * accepted.std() / np.sqrt(n.shape[0]) + 1e-12
        assert abs(h[0] - damage.mean()) <= 4 * damage.std() / np.sqrt(n.shape[0]) + 1e-12


def test_ball_kernels_at_zero_radius_are_continuous():
    for dim, tau in [(3, 0.8), (3, 1.5), (50, 0.99)]:
        p, h = ball_kernels(np.array([0.0, 1e-7]), tau, 1.0, dim)
        u = min(1.0, tau**dim)
        assert p[0] == pytest.approx(u) and h[0] == pytest.approx(u ** (1 + 2 / dim) / (1 + 2 / dim))
        assert p[1] == pytest.approx(p[0], abs=1e-6) and h[1] == pytest.approx(h[0], abs=1e-6)


def test_gaussian_limit_continues_the_exact_kernel():
    tau = 2.0
    knee = np.sqrt(tau**2 - 1)
    r = knee + np.linspace(-3, 3, 7) / 1000  # the knee window at d ~ 1e6
    exact = ball_kernels(r, tau, 1.0, 10**6)
    limit = ball_kernels(r, tau, 1.0, 10**6 + 1)
    # the limit drops O(1/sqrt d) terms (E R = Delta d / (d + 1) shifts the knee by ~1/sqrt(d) of its width)
    np.testing.assert_allclose(exact[0], limit[0], atol=1e-3)
    np.testing.assert_allclose(exact[1], limit[1], atol=1e-2)
    assert np.abs(exact[0] - limit[0]).max() > 0  # two code paths, not one


@pytest.mark.parametrize("eta", [2.0, 3.0, 6.0])
def test_scalar_price_curve_is_the_closed_form(eta):
    """c_eta(alpha) = (Delta^2 / 4)(u^2 - 6 u alpha + 28/3 alpha^2), u = eta + 2, on the concave branch."""
    r = np.linspace(0, eta + 1, 4001)
    p, h = interval_kernels(r, eta, 1.0)
    alpha_v, psi_v = vertices(p, h, upper_envelope(p, h))
    u = eta + 2
    end = min(1.0, (9 * eta + 4) / 28)  # the chord starts at alpha_t = (9 eta + 4) / 28 when eta < 8/3
    alpha = np.linspace(0.05, end, 20)
    closed = (u**2 - 6 * u * alpha + 28 / 3 * alpha**2) / 4
    np.testing.assert_allclose(price(alpha, alpha_v, psi_v, 0.25), closed, rtol=1e-4)
