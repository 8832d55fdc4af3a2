"""The adversary's best response at one threshold eta: kernel of the game, radius grid, envelope, noise law."""

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from economics.envelope import ORIGIN, price, upper_envelope, vertices
from economics.game import GameSpec
from economics.kernels import ball_kernels, interval_kernels
from economics.multinode import scalar_kernels, vector_kernels
from economics.sketch import sketched_kernels
from economics.utility import LogUtility, ProductUtility, Utility, best_response

Kernel = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]

GRID_POINTS = 400
"""Radii spread over [0, tau + Delta], and as many again in the window around the knee."""
KNEE_WIDTH = 15.0
"""Knee window half-width, in units of tau / sqrt(d)."""
ZOOM_POINTS = 33
ZOOMS = 3
"""Rounds of regridding around the two vertices that carry the optimal law; each shrinks the spacing ~8x."""


@dataclass(frozen=True)
class Response:
    """Best response at one eta: P_A*, MSE* and the law 'radius r1 w.p. w1, else r2' (r1 = r2, w = (1, 0) if pure)."""

    p_accept: float
    mse: float
    radii: np.ndarray
    weights: np.ndarray


def game_kernel(spec: GameSpec) -> tuple[Kernel, float]:
    """(kernel(r, tau) -> (p, h), scale) with MSE = scale * Psi~ / alpha.
    One honest node: the estimate is (n + pull z) / (1 + pull), pull = t for the mean and 1 for the midrange (which
    sees only the set {n, z}: the Sybil copies vanish) - exact in any dimension. Two or more honest nodes: the
    error-valued N-node kernels (exact for scalars, and for vectors at eta >= 2; Monte Carlo for vectors below)."""
    if spec.sketched:
        return partial(sketched_kernels, delta=spec.delta, k=spec.sketch, honest=spec.honest,
                       adversaries=spec.adversaries), 1.0
    if spec.honest == 1:
        pull = spec.adversaries if spec.estimator == "mean" else 1
        scale = 1 / (1 + pull) ** 2
        if spec.dim == 1:
            return partial(interval_kernels, delta=spec.delta, pull=pull), scale
        return partial(ball_kernels, delta=spec.delta, dim=spec.dim, pull=pull), scale
    nodes = {"delta": spec.delta, "honest": spec.honest, "adversaries": spec.adversaries}
    if spec.dim == 1:
        return partial(scalar_kernels, estimator=spec.estimator, **nodes), 1.0
    return partial(vector_kernels, dim=spec.dim, **nodes), 1.0


def game_utility(spec: GameSpec) -> Utility:
    """The adversary's utility callable named by the spec."""
    return {"log": LogUtility, "product": ProductUtility}[spec.utility](spec.kappa)


def radius_grid(tau: float, delta: float, dim: int) -> np.ndarray:
    """Sorted radii: uniform on [0, tau + Delta] (beyond, p = 0), dense in the window around the knee
    sqrt(tau^2 - Delta^2) of half-width KNEE_WIDTH tau / sqrt(d) (where p falls from 1 to 0 in high d), and the end
    of the always-accepted zone tau - Delta (a hull vertex whenever a chord leaves it)."""
    top = tau + delta
    knee, half = np.sqrt(max(tau**2 - delta**2, 0.0)), KNEE_WIDTH * tau / np.sqrt(dim)
    window = np.linspace(max(knee - half, 0.0), min(knee + half, top), GRID_POINTS)
    return np.unique(np.concatenate([np.linspace(0.0, top, GRID_POINTS), window, [max(tau - delta, 0.0)]]))


def _zoom(r: np.ndarray, at: np.ndarray, top: float) -> np.ndarray:
    """ZOOM_POINTS radii across +-2 grid gaps around each sorted-grid position in `at`."""
    gaps = np.diff(r)
    out = []
    for i in at:
        gap = max(gaps[max(i - 1, 0)], gaps[min(i, gaps.size - 1)])
        out.append(np.linspace(max(r[i] - 2 * gap, 0.0), min(r[i] + 2 * gap, top), ZOOM_POINTS))
    return np.concatenate(out)


def _neighbours(r: np.ndarray, pair: np.ndarray) -> bool:
    """Whether two grid positions are at most two local grid gaps apart: a chord no longer than the grid resolves
    is a discretised point of the curve (not plain adjacency: rounding can leave a near-collinear point between)."""
    lo, hi = np.sort(pair)
    return bool(r[hi] - r[lo] <= 2 * np.diff(r[max(lo - 1, 0) : hi + 2]).max())


def respond(spec: GameSpec, eta: float) -> Response:
    """Best response at eta: alpha* on the envelope of the kernel over the radius grid, then ZOOMS rounds of
    regridding around the two vertices bracketing alpha*. The law mixes those two vertices with weights that put
    the mean acceptance at alpha*; vertices next to each other on the grid are a discretised pure strategy, so
    they are merged into one radius."""
    kernel, scale = game_kernel(spec)
    utility = game_utility(spec)
    tau = eta * spec.delta
    top = tau + spec.delta
    r = radius_grid(tau, spec.delta, spec.dim)
    p, h = kernel(r, tau)
    for round_ in range(ZOOMS + 1):
        index = upper_envelope(p, h)
        if index.size < 2:
            raise ValueError(f"eta={eta}: no report is ever accepted (d={spec.dim}, tau={tau} < Delta); raise eta")
        alpha_v, psi_v = vertices(p, h, index)
        alpha = best_response(alpha_v, psi_v, utility, scale)
        j = int(np.clip(np.searchsorted(alpha_v, alpha, side="right") - 1, 0, alpha_v.size - 2))
        pair = index[j : j + 2]
        if round_ == ZOOMS:
            break
        extra = _zoom(r, pair[pair != ORIGIN], top)
        p_extra, h_extra = kernel(extra, tau)
        r, unique = np.unique(np.concatenate([r, extra]), return_index=True)
        p, h = np.concatenate([p, p_extra])[unique], np.concatenate([h, h_extra])[unique]
    upper = (alpha - alpha_v[j]) / (alpha_v[j + 1] - alpha_v[j])
    weights = np.array([1 - upper, upper])
    # ORIGIN (-1) picks the appended radius: a report tau + 2 Delta away is never accepted
    radii = np.append(r, top + spec.delta)[pair]
    if weights.min() < 1e-9 or (ORIGIN not in pair and _neighbours(r, pair)):
        radii, weights = np.full(2, weights @ radii), np.array([1.0, 0.0])
    mse = float(price(alpha, alpha_v, psi_v, scale))
    return Response(p_accept=alpha, mse=mse, radii=radii, weights=weights)


def price_curve(spec: GameSpec, eta: float, alpha: np.ndarray) -> np.ndarray:
    """c_eta(alpha) of the game on its radius grid (nan beyond the largest acceptance probability)."""
    kernel, scale = game_kernel(spec)
    tau = eta * spec.delta
    p, h = kernel(radius_grid(tau, spec.delta, spec.dim), tau)
    alpha_v, psi_v = vertices(p, h, upper_envelope(p, h))
    return price(alpha, alpha_v, psi_v, scale)
