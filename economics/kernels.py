"""Kernels of the game with one honest node: acceptance p(r) and damage h(r) for an adversarial offset of norm r.

The honest noise n is uniform in the Delta-ball of R^d; the adversary reports u + z with ||z|| = r (its t nodes
all send that point). Accepted iff ||n - z|| <= tau. With `pull` = t for the mean of h + t = 1 + t reports
(1 for two nodes or the midrange, where the estimate is the average of n and z):
    p(r) = P(||n - z|| <= tau),    h(r) = E[ ||n + pull z||^2 1{||n - z|| <= tau} ],
and the estimation error is h / (1 + pull)^2 (docs/game_of_coding.md, "Kernels with one honest node").
"""

from functools import cache

import numpy as np
from scipy.special import betainc, betaln, ndtr

GAUSSIAN_DIM = 10**6
"""Beyond this dimension C ~ N(0, 1/d) and R = Delta (docs/game_of_coding.md, "High dimension")."""

DENSITY_CUT = 40.0
"""R below Delta (1 - DENSITY_CUT / (d - 1)) carries under e^-DENSITY_CUT of the radial density's peak: skipped."""

SATURATION = 9.0
"""|c| sqrt(d) beyond which S(c) is 0 or 1 to double precision: skips needless betainc calls in high d."""


@cache
def unit_gauss(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (cached: leggauss costs more than a kernel call)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    return (x + 1) / 2, w / 2


def interval_kernels(r: np.ndarray, tau: float, delta: float, pull: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """d = 1 closed form. n is uniform on [-Delta, Delta] and accepted on
    [a, b] = [max(-Delta, r - tau), min(Delta, r + tau)]:
    p = (b - a)^+ / (2 Delta),   h = ((b + pull r)^3 - (a + pull r)^3)^+ / (6 Delta).
    (Flat zone r <= tau - Delta, pull = 1: p = 1, h = r^2 + Delta^2 / 3.)"""
    r = np.asarray(r, dtype=float)
    a = np.maximum(-delta, r - tau)
    b = np.maximum(np.minimum(delta, r + tau), a)  # empty interval -> a = b -> zero mass
    p = (b - a) / (2 * delta)
    h = ((b + pull * r) ** 3 - (a + pull * r) ** 3) / (6 * delta)
    return p, h


def cap_mass(c: np.ndarray, dim: int) -> np.ndarray:
    """S(c) = P(C >= c) for C the cosine between a uniform direction and a fixed one in R^d:
    (1 + C)/2 ~ Beta((d-1)/2, (d-1)/2), so S(c) = I_{(1-c)/2}((d-1)/2, (d-1)/2).
    Beyond GAUSSIAN_DIM: Phi(-c sqrt d)."""
    c = np.clip(c, -1.0, 1.0)
    if dim > GAUSSIAN_DIM:
        return ndtr(-c * np.sqrt(dim))
    a = (dim - 1) / 2
    out = (c < 0).astype(float)
    live = np.abs(c) < min(1.0, SATURATION / np.sqrt(dim))
    out[live] = betainc(a, a, (1 - c[live]) / 2)
    return out


def cap_moment(c: np.ndarray, dim: int) -> np.ndarray:
    """M1(c) = E[C 1{C >= c}] = (1 - c^2)^((d-1)/2) / ((d-1) B(1/2, (d-1)/2)).
    Beyond GAUSSIAN_DIM: phi(c sqrt d) / sqrt d."""
    c = np.clip(c, -1.0, 1.0)
    if dim > GAUSSIAN_DIM:
        return np.exp(-dim * c**2 / 2) / np.sqrt(2 * np.pi * dim)
    a = (dim - 1) / 2
    out = np.zeros_like(c)
    live = np.abs(c) < min(1.0, SATURATION / np.sqrt(dim))
    # in logs: B(1/2, a) and the power both under/overflow for d in the thousands
    out[live] = np.exp(a * np.log1p(-c[live] ** 2) - np.log(dim - 1) - betaln(0.5, a))
    return out


def radius_quadrature(r: np.ndarray, tau: float, delta: float, dim: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes R [n, Q] and weights [n, Q] for E_R[f(R)], where R = ||n|| has density d R^(d-1) / Delta^d on [0, Delta].
    Gauss-Legendre in R (not in U = (R/Delta)^d: f(Delta U^(1/d)) is singular at U = 0 and slows convergence ~1000x
    at d = 3), split where the cap c0(R) leaves [-1, 1] (R = |r - tau|, r + tau: kinks of the integrand), and cut
    below Delta (1 - DENSITY_CUT / (d - 1)) where the density is under e^-DENSITY_CUT of its peak.
    Beyond GAUSSIAN_DIM, R = Delta (one node)."""
    r = np.asarray(r, dtype=float)
    if dim > GAUSSIAN_DIM:
        return np.full((r.size, 1), delta), np.ones((r.size, 1))
    s, w = unit_gauss(nodes)
    floor = delta * max(0.0, 1 - DENSITY_CUT / (dim - 1))
    kinks = np.clip(np.stack([np.abs(r - tau), r + tau], axis=-1), floor, delta)
    ends = np.ones((r.size, 1))
    edges = np.concatenate([floor * ends, np.sort(kinks, axis=-1), delta * ends], axis=-1)
    lo, width = edges[:, :-1, None], np.diff(edges, axis=-1)[:, :, None]
    # R = lo + width (1 - cos(pi s)) / 2, s in [0, 1]: at a kink the integrand goes like sqrt(R - lo) when d = 2
    # (and (R - lo)^(3/2) when d = 4); in s it is smooth, and Gauss-Legendre converges fast again
    # a zero-width piece at R = 0 would give c0 = 0/0; its weight is 0, so any positive R will do
    radius = np.maximum(lo + width * (1 - np.cos(np.pi * s)) / 2, delta * 1e-9)  # [n, 3, nodes]
    density = dim / delta * np.exp((dim - 1) * np.log(radius / delta))
    weight = width * np.pi / 2 * np.sin(np.pi * s) * w * density
    return radius.reshape(r.size, -1), weight.reshape(r.size, -1)


def ball_moments(r: np.ndarray, tau: float, delta: float, dim: int, nodes: int = 24
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d >= 2: the three moments of one honest ball noise n against an adversarial offset z, ||z|| = r, that
    every kernel here is built from. With R = ||n||, C = cos(n, z), c0(R) = (R^2 + r^2 - tau^2) / (2 R r) and
    the acceptance ||n - z|| <= tau <=> C >= c0:
        p(r) = E_R[S(c0)],   q(r) = E[R^2 1{acc}] = E_R[R^2 S(c0)],   m(r) = E[R C 1{acc}] = E_R[R M1(c0)]
    (by symmetry E[n 1{acc}] = m z / r). r = 0: p = P(R <= tau) = u, q = Delta^2 u^(1 + 2/d) / (1 + 2/d), m = 0,
    with u = min(1, (tau/Delta)^d)."""
    r = np.asarray(r, dtype=float)
    safe = np.where(r > 0, r, 1.0)[:, None]
    radius, weight = radius_quadrature(safe[:, 0], tau, delta, dim, nodes)
    c0 = (radius**2 + safe**2 - tau**2) / (2 * radius * safe)
    # zero-width pieces (kinks outside the radial support: most of them in high d) need no special functions
    live = weight > 0
    s, m = np.zeros_like(c0), np.zeros_like(c0)
    s[live], m[live] = cap_mass(c0[live], dim), cap_moment(c0[live], dim)
    u = np.exp(min(0.0, dim * np.log(tau / delta)))
    p = np.where(r > 0, np.sum(weight * s, axis=-1), u)
    q = np.where(r > 0, np.sum(weight * radius**2 * s, axis=-1), delta**2 * u ** (1 + 2 / dim) / (1 + 2 / dim))
    return p, q, np.where(r > 0, np.sum(weight * radius * m, axis=-1), 0.0)


def ball_kernels(
    r: np.ndarray, tau: float, delta: float, dim: int, pull: float = 1.0, nodes: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """d >= 2, from `ball_moments`:  p(r) = E_R[S(c0)],
    h(r) = E_R[(R^2 + pull^2 r^2) S(c0) + 2 pull R r M1(c0)] = q + pull^2 r^2 p + 2 pull r m."""
    r = np.asarray(r, dtype=float)
    p, q, m = ball_moments(r, tau, delta, dim, nodes)
    return p, q + pull**2 * r**2 * p + 2 * pull * r * m
