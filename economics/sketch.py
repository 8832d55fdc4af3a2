"""The consistency check seen through a k-row Rademacher sketch (docs/sketch.md): distortion of one pair, the
honest failure and adversarial pass probabilities, and the kernels of the game when the check sees sketches.

A sketched pair passes iff ||S x||^2 <= k tau^2, x = y_i - y_j fixed before S (the seed comes after the
commitments). ||S x||^2 = sum of k independent terms (s_r . x)^2, each of mean ||x||^2 and variance
2 (||x||^4 - ||x||_4^4); for a spread-out x (no coordinate carries much of it, true of gradient noise),
s_r . x is close to N(0, ||x||^2) and ||S x||^2 / ||x||^2 to chi-square with k degrees of freedom: a pair at
distance rho passes with probability F_k(k tau^2 / rho^2).

In the game the adversary's offset z has a uniformly random direction and the honest noises are independent,
so in high dimension every pair is nearly orthogonal and the sketches are nearly independent Gaussians:
S n_i ~ N(0, ||n_i||^2 I_k), S z ~ N(0, r^2 I_k) (the 'Gaussian limit'). With ball noise ||n_i|| -> Delta.
The damage is measured on the full reports, which the DC aggregates: ||sum n_i + t z||^2 -> h Delta^2 + t^2 r^2,
nearly independent of the sketch event.
"""

from functools import cache

import numpy as np
from scipy.stats import chi2

SKETCH_SAMPLES = 20_000
SKETCH_CHUNK = 2_000
SKETCH_SEED = 20_260_310


def pair_accept(rho: np.ndarray, tau: float, k: int) -> np.ndarray:
    """P(||S x||^2 <= k tau^2) for ||x|| = rho: F_k(k tau^2 / rho^2) (chi-square limit; 1 at rho = 0)."""
    rho = np.asarray(rho, dtype=float)
    with np.errstate(divide="ignore"):
        return chi2.cdf(k * tau**2 / np.square(rho), k)


def distortion_sd(x: np.ndarray, k: int) -> np.ndarray:
    """Exact sd of ||S x||^2 / (k ||x||^2) for Rademacher S: sqrt(2 (1 - ||x||_4^4 / ||x||^4) / k) (x [..., d])."""
    x = np.asarray(x, dtype=float)
    sq = np.sum(x**2, axis=-1)
    return np.sqrt(2.0 * (1.0 - np.sum(x**4, axis=-1) / sq**2) / k)


def honest_eta_min(k: int, failure: float) -> float:
    """The smallest eta at which a pair at the worst honest distance 2 Delta fails the sketch check with probability
    at most `failure`: 2 sqrt(F_k^-1(1 - failure) / k) (the exact check needs 2)."""
    return float(2.0 * np.sqrt(chi2.ppf(1.0 - failure, k) / k))


@cache
def gaussian_sketches(honest: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SKETCH_SAMPLES draws of xi_0 (the adversary's) and xi_1..xi_h (the honest nodes') ~ N(0, I_k), reduced to
    what the checks need: ||xi_0||^2 [S], xi_0 . xi_i [S, h], ||xi_i||^2 [S, h], max_ij ||xi_i - xi_j||^2 [S].
    Drawn in chunks (h = 9, k = 256 would be 400 MB at once) from a fixed seed, and cached."""
    rng = np.random.default_rng(SKETCH_SEED)
    parts = []
    for _ in range(0, SKETCH_SAMPLES, SKETCH_CHUNK):
        xi = rng.standard_normal((SKETCH_CHUNK, honest + 1, k))
        a, n = xi[:, 0], xi[:, 1:]
        n2 = np.sum(n**2, axis=-1)
        pairs = n2[:, :, None] + n2[:, None, :] - 2 * np.einsum("sik,sjk->sij", n, n)
        parts.append((np.sum(a**2, axis=-1), np.einsum("sk,sik->si", a, n), n2, pairs.max(axis=(1, 2))))
    return tuple(np.concatenate(c) for c in zip(*parts))


def sketched_kernels(
    r: np.ndarray, tau: float, delta: float, k: int, honest: int, adversaries: int
) -> tuple[np.ndarray, np.ndarray]:
    """The N-node game with the mean when the check sees k-row sketches (Gaussian limit, ball noise at Delta):
        p(r) = P(every pair of {Delta xi_1..Delta xi_h, r xi_0} within sqrt(k) tau),  xi_i ~ N(0, I_k) iid
        e(r) = p(r) (h Delta^2 + t^2 r^2) / (h + t)^2          (damage on the full reports, c = Psi~ / alpha)
    One honest node: p(r) = F_k(k tau^2 / (r^2 + Delta^2)) in closed form. Several: Monte Carlo over the same
    draws for every r and tau (common random numbers, so the curve is smooth in r)."""
    r = np.asarray(r, dtype=float)
    h, t = honest, adversaries
    if h == 1:
        p = chi2.cdf(k * tau**2 / (r**2 + delta**2), k)
    else:
        a2, dots, n2, honest_pairs = gaussian_sketches(h, k)
        limit = k * tau**2
        honest_ok = delta**2 * honest_pairs <= limit
        p = np.array([np.mean(honest_ok & np.all(x**2 * a2[:, None] - 2 * x * delta * dots + delta**2 * n2 <= limit,
                                                 axis=1)) for x in r])
    return p, p * (h * delta**2 + t**2 * r**2) / (h + t) ** 2
