"""The check through a Rademacher sketch: chi-square pass probabilities and the sketched game's kernels."""
from __future__ import annotations

import numpy as np
import pytest

from economics import GameSpec, solve
from economics.sketch import distortion_sd, honest_eta_min, pair_accept, sketched_kernels


def sketch_many(rng, vectors: np.ndarray, k: int, chunk: int = 250) -> np.ndarray:
    """[D, m, k]: each of D groups of m vectors [D, m, d] through its own fresh Rademacher S (random bits)."""
    out = []
    for c in range(0, len(vectors), chunk):
        v = vectors[c:c + chunk]
        bits = np.unpackbits(np.frombuffer(rng.bytes(-(-v.shape[0] * k * v.shape[2] // 8)), dtype=np.uint8))
        s = 1.0 - 2.0 * bits[:v.shape[0] * k * v.shape[2]].reshape(v.shape[0], k, v.shape[2]).astype(np.float32)
        out.append(np.einsum("Dkd,Dmd->Dmk", s, v.astype(np.float32), optimize=True))
    return np.concatenate(out).astype(np.float64)


@pytest.mark.parametrize("k", [16, 64])
def test_pair_accept_is_the_chi_square_law(k, rng):
    """A spread-out x of norm rho passes ||S x||^2 <= k tau^2 with probability F_k(k tau^2 / rho^2)."""
    d, draws = 500, 3000
    x = rng.standard_normal(d)
    x /= np.linalg.norm(x)
    q = np.sum(sketch_many(rng, np.broadcast_to(x, (draws, 1, d)), k)[:, 0] ** 2, axis=1) / k  # ||Sx||^2 / (k ||x||^2)
    for ratio in (0.85, 1.0, 1.15):  # rho / tau
        accepted = q * ratio**2 <= 1.0
        predicted = pair_accept(np.array([ratio]), 1.0, k)[0]
        assert abs(accepted.mean() - predicted) <= 4 * np.sqrt(predicted * (1 - predicted) / draws)
    assert q.std() == pytest.approx(distortion_sd(x, k), rel=0.1)


def test_distortion_sd_counts_the_fourth_moment():
    """A vector on one coordinate is never distorted; a flat one has sd sqrt(2 (1 - 1/d) / k)."""
    spike = np.zeros(100)
    spike[3] = 2.0
    assert distortion_sd(spike, 32) == pytest.approx(0.0)
    assert distortion_sd(np.ones(100), 32) == pytest.approx(np.sqrt(2 * 0.99 / 32))


@pytest.mark.parametrize("k", [32, 64, 256])
def test_honest_eta_min_bounds_the_worst_honest_pair(k):
    eta = honest_eta_min(k, 1e-3)
    assert 2.0 < eta < 3.0
    assert pair_accept(np.array([2.0]), eta, k)[0] == pytest.approx(1 - 1e-3, abs=1e-9)
    assert honest_eta_min(4 * k, 1e-3) < eta  # more rows, less distortion, closer to the exact check's 2


@pytest.mark.parametrize("honest", [1, 2])
def test_sketched_kernels_match_sketched_ball_noise(honest, ball_noise, rng):
    """Sketches of real d-dim ball noise and a random-direction offset against the Gaussian-limit kernel."""
    d, k, tau, adversaries, draws = 1000, 24, 2.0, 3, 2000
    for r in (1.0, 1.6, 2.2):
        n = ball_noise(draws * honest, d).reshape(draws, honest, d)
        z = rng.standard_normal((draws, d))
        z *= r / np.linalg.norm(z, axis=1, keepdims=True)
        sk = sketch_many(rng, np.concatenate([n, z[:, None]], axis=1), k)  # [D, h + 1, k]
        accepted = np.sum((sk[:, :, None] - sk[:, None]) ** 2, axis=-1).max(axis=(1, 2)) <= k * tau**2
        damage = np.sum((n.sum(axis=1) + adversaries * z) ** 2, axis=1) / (honest + adversaries) ** 2 * accepted
        p, e = sketched_kernels(np.array([r]), tau, 1.0, k, honest, adversaries)
        # the Gaussian limit is off by O(1/sqrt(d)) in the squared distances: allow 0.03 beside 4 sd
        assert abs(p[0] - accepted.mean()) <= 4 * accepted.std() / np.sqrt(draws) + 0.03
        assert abs(e[0] - damage.mean()) <= 4 * damage.std() / np.sqrt(draws) + 0.03 * e[0]


def test_sketched_tables_tend_to_the_full_check_as_k_grows(tmp_path):
    """One honest node at d = 61,706: the sketched equilibrium approaches the exact one as k grows."""
    eta = np.array([2.0, 4.0])
    full = solve(GameSpec(dim=61_706), eta, cache_dir=tmp_path, progress=False)
    gaps = []
    for k in (32, 512, 8192):
        sk = solve(GameSpec(dim=61_706, sketch=k), eta, cache_dir=tmp_path, progress=False)
        assert np.all((sk.p_accept > 0.3) & (sk.p_accept <= 1))
        gaps.append(np.max(np.abs(sk.mse / full.mse - 1)))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.05
    assert not GameSpec(dim=10, sketch=64).sketched and GameSpec(dim=10).key() != GameSpec(dim=10, sketch=4).key()
