"""Kernels of the N-node game with h >= 2 honest nodes: one adversary controls t nodes that all report u + z.

Accepted iff every pair of reports is within tau (scalar: max y - min y <= tau). Here the kernel is the
estimation damage itself, e(z) = E[err^2 1{accepted}], so c_eta(alpha) = Psi~(alpha) / alpha (no 1/4).
Scalars are exact (quadrature over the honest min and max). Vectors with the mean are exact for tau >= 2 Delta
(where honest pairs always agree) and Monte Carlo below.
"""

import numpy as np

from economics.kernels import ball_moments, unit_gauss

MONTE_CARLO_SAMPLES = 20_000
MONTE_CARLO_SEED = 20_240_126
MONTE_CARLO_FLOATS = 2 * 10**8
"""Largest honest-noise sample (samples x h x d floats) the Monte Carlo kernel may draw: 1.6 GB."""


def _legendre(lo: np.ndarray, hi: np.ndarray, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [lo, hi], broadcast over a new last axis."""
    x, w = unit_gauss(nodes)
    width = (hi - lo)[..., None]
    return lo[..., None] + width * x, width * w


def scalar_error2(
    m: np.ndarray, big: np.ndarray, z: np.ndarray, honest: int, adversaries: int, estimator: str
) -> np.ndarray:
    """E[err^2 | min m, max M of the h honest noises], adversary at z.
    midrange: ((max(M, z) + min(m, z)) / 2)^2 - it sees only the set of values, so t does not enter.
    mean: the other h - 2 honest noises are iid uniform on [m, M], so with S their total,
    E[S | m, M] = h (m + M) / 2, Var[S | m, M] = (h - 2)(M - m)^2 / 12, and
    E[err^2] = ((h (m + M) / 2 + t z)^2 + (h - 2)(M - m)^2 / 12) / (h + t)^2."""
    if estimator == "midrange":
        return ((np.maximum(big, z) + np.minimum(m, z)) / 2) ** 2
    n = honest + adversaries
    return ((honest * (m + big) / 2 + adversaries * z) ** 2 + (honest - 2) * (big - m) ** 2 / 12) / n**2


def scalar_kernels(
    z: np.ndarray, tau: float, delta: float, honest: int, adversaries: int, estimator: str
) -> tuple[np.ndarray, np.ndarray]:
    """p(z) = P(max(M, z) - min(m, z) <= tau),  e(z) = E[err^2 1{accepted}], with (m, M) the min and max of h >= 2
    honest noises uniform on [-Delta, Delta], joint density h (h-1) (M - m)^(h-2) / (2 Delta)^h on m <= M.
    Accepted iff M in [z - tau, z + tau] and m >= max(M, z) - tau. The integrand is polynomial between the kinks
    M in {z, tau - Delta} and m = z, so Gauss-Legendre with h + 4 nodes per piece is exact."""
    z = np.asarray(z, dtype=float)
    nodes = honest + 4
    top_lo = np.maximum(-delta, z - tau)
    top_hi = np.maximum(np.minimum(delta, z + tau), top_lo)  # empty range -> zero width -> zero mass
    kinks = np.clip(np.stack([z, np.full_like(z, tau - delta)], axis=-1), top_lo[:, None], top_hi[:, None])
    edges = np.concatenate([top_lo[:, None], np.sort(kinks, axis=-1), top_hi[:, None]], axis=-1)
    big, w_big = _legendre(edges[:, :-1], edges[:, 1:], nodes)  # [Z, 3, nodes]
    big, w_big = big.reshape(z.size, -1), w_big.reshape(z.size, -1)
    low = np.maximum(-delta, np.maximum(big, z[:, None]) - tau)
    split = np.clip(z[:, None], low, big)
    m_a, w_a = _legendre(low, split, nodes)
    m_b, w_b = _legendre(split, big, nodes)
    m, w_m = np.concatenate([m_a, m_b], axis=-1), np.concatenate([w_a, w_b], axis=-1)  # [Z, 3 nodes, 2 nodes]
    density = honest * (honest - 1) * (big[..., None] - m) ** (honest - 2) / (2 * delta) ** honest
    mass = w_big[..., None] * w_m * density
    err2 = scalar_error2(m, big[..., None], z[:, None, None], honest, adversaries, estimator)
    return mass.sum(axis=(1, 2)), (mass * err2).sum(axis=(1, 2))


def sampled_kernels(
    r: np.ndarray, tau: float, delta: float, dim: int, honest: int, adversaries: int
) -> tuple[np.ndarray, np.ndarray]:
    """MONTE CARLO (vectors, h >= 2, mean estimator): p(r) and e(r) = E[||mean - u||^2 1{accepted}] from
    MONTE_CARLO_SAMPLES draws of the h honest noises, the same draws for every r and tau (common random numbers,
    so the curve is smooth in r). With z = r e_1 and S the sum of honest noises:
    accepted iff all honest pairs and all ||n_i - z|| are within tau;  err^2 = ||S + t z||^2 / (h + t)^2."""
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    noise = rng.normal(size=(MONTE_CARLO_SAMPLES, honest, dim))
    noise /= np.linalg.norm(noise, axis=-1, keepdims=True)
    noise *= delta * rng.random((MONTE_CARLO_SAMPLES, honest, 1)) ** (1 / dim)
    pairs = np.linalg.norm(noise[:, :, None] - noise[:, None], axis=-1).max(axis=(1, 2)) <= tau  # [B]
    norm2 = np.sum(noise**2, axis=-1)  # [B, h]
    r = np.asarray(r, dtype=float)[:, None, None]
    accepted = pairs & np.all(norm2 + r**2 - 2 * r * noise[..., 0] <= tau**2, axis=-1)  # [R, B]
    total = noise.sum(axis=1)  # [B, dim]
    shift = adversaries * r[..., 0]  # [R, 1]
    err2 = np.sum(total**2, axis=-1) + 2 * shift * total[:, 0] + shift**2
    return accepted.mean(axis=-1), (accepted * err2).mean(axis=-1) / (honest + adversaries) ** 2


def ball_mean_kernels(
    r: np.ndarray, tau: float, delta: float, dim: int, honest: int, adversaries: int
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors, h honest ball noises, the mean, tau >= 2 Delta: exact in any dimension. Two honest reports are then
    always within tau (||n_i - n_j|| <= 2 Delta), so acceptance is the product of the h events ||n_i - z|| <= tau,
    independent given z. With (p, q, m) the one-node moments of `kernels.ball_moments` and E[n_i 1{acc_i}] = m z / r:
        p_h(r) = p^h
        e(r)   = E[||sum n_i + t z||^2 1{acc}] / (h + t)^2
               = [h q p^(h-1) + h (h-1) m^2 p^(h-2) + t^2 r^2 p^h + 2 t h r m p^(h-1)] / (h + t)^2."""
    if tau < 2 * delta:
        raise ValueError(f"ball_mean_kernels: exact only for tau >= 2 Delta, got tau={tau}, Delta={delta}")
    r = np.asarray(r, dtype=float)
    h, t = honest, adversaries
    p, q, m = ball_moments(r, tau, delta, dim)
    damage = (h * q * p ** (h - 1) + h * (h - 1) * m**2 * p ** max(h - 2, 0) + t**2 * r**2 * p**h
              + 2 * t * h * r * m * p ** (h - 1))
    return p**h, damage / (h + t) ** 2


def vector_kernels(
    r: np.ndarray, tau: float, delta: float, dim: int, honest: int, adversaries: int
) -> tuple[np.ndarray, np.ndarray]:
    """The N-node vector kernel with the mean: exact for tau >= 2 Delta, Monte Carlo below (refused where its sample
    would not fit in memory, e.g. neural-network dimensions)."""
    if tau >= 2 * delta:
        return ball_mean_kernels(r, tau, delta, dim, honest, adversaries)
    if MONTE_CARLO_SAMPLES * honest * dim > MONTE_CARLO_FLOATS:
        raise ValueError(f"eta={tau / delta:g}: below eta = 2 the {honest}-honest vector game needs the Monte Carlo "
                         f"kernel, too large at d={dim}; start the eta grid at 2")
    return sampled_kernels(r, tau, delta, dim, honest, adversaries)
