"""Adversary utilities U(MSE, P_A), increasing in both, and the best response along the price curve c_eta."""

from dataclasses import dataclass
from typing import Callable

import numpy as np

Utility = Callable[[np.ndarray, np.ndarray], np.ndarray]

GOLDEN_STEPS = 40


@dataclass(frozen=True)
class LogUtility:
    """U = log MSE + kappa log P_A (the default family of docs/game_of_coding.md)."""

    kappa: float

    def __call__(self, mse: np.ndarray, p_accept: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(mse) + self.kappa * np.log(p_accept)


@dataclass(frozen=True)
class ProductUtility:
    """U = MSE * P_A^kappa (a monotone transform of LogUtility: same best response)."""

    kappa: float

    def __call__(self, mse: np.ndarray, p_accept: np.ndarray) -> np.ndarray:
        return mse * p_accept**self.kappa


def best_response(alpha_v: np.ndarray, psi_v: np.ndarray, utility: Utility, scale: float) -> float:
    """alpha* = argmax_alpha U(c_eta(alpha), alpha), c_eta = scale Psi~ / alpha, over the piecewise-linear Psi~ with
    vertices (alpha_v, psi_v). Each segment is searched by golden section (all at once) in its own coordinate
    lam in [0, 1] - alpha = alpha_k + lam (alpha_k+1 - alpha_k), Psi~ likewise - which stays exact on near-vertical
    segments where a slope would cancel catastrophically. The vertices are candidates too, so a segment where U
    is not unimodal can only lose to its own ends. The origin vertex is excluded (c is 0/0 there)."""
    alpha_0, alpha_step = alpha_v[:-1], np.diff(alpha_v)
    psi_0, psi_step = psi_v[:-1], np.diff(psi_v)

    def along(lam: np.ndarray) -> np.ndarray:
        alpha = alpha_0 + lam * alpha_step
        return utility(scale * (psi_0 + lam * psi_step) / alpha, alpha)

    lo, hi = np.zeros_like(alpha_0), np.ones_like(alpha_0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(GOLDEN_STEPS):
        left, right = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        better_left = along(left) >= along(right)
        hi = np.where(better_left, right, hi)
        lo = np.where(better_left, lo, left)
    lam = (lo + hi) / 2
    candidates = np.concatenate([alpha_0 + lam * alpha_step, alpha_v[1:]])
    values = np.concatenate([along(lam), utility(scale * psi_v[1:] / alpha_v[1:], alpha_v[1:])])
    return float(candidates[np.nanargmax(values)])
