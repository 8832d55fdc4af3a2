"""VISTA's threshold and learning-rate controller (Algorithm 1 of docs/vista.md) as pure init/update.

Everything is batched over a leading axis B, and the method's parameters are per-run arrays, so one batch
can carry VISTA, its oracle variant and every constant-eta baseline side by side. A constant-eta baseline
is VISTA with eta_min = eta_max: every accepted round is then "saturated", so alpha = alpha0/sqrt(1 + a)
with a the accepted rounds, which is exactly the paper's baseline schedule.

eta lives on the equilibrium table's grid (the adversary's law is tabulated there), so the state holds a
grid index. MSE^{-1} is read off the running maximum of the MSE curve: the rule assumes MSE*(eta)
non-decreasing, and the running maximum is the conservative reading where the tabulated curve dips.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class VistaParams:
    eta_grid: np.ndarray  # [G] increasing
    mse_curve: np.ndarray  # [G] MSE*(eta) at the adversary's best response
    lam: np.ndarray  # [B] signal-to-noise tolerance
    alpha0: np.ndarray  # [B]
    lo: np.ndarray  # [B] grid index of eta_min
    hi: np.ndarray  # [B] grid index of eta_max
    oracle: np.ndarray  # [B] bool: use the true ||grad f||^2 instead of the EMA proxy
    decay_all: np.ndarray  # [B] bool: the step decays over every accepted round (the baselines' schedule)
    beta: float = 0.9

    @property
    def batch(self) -> int:
        return len(self.lam)


class VistaState(NamedTuple):
    eta_index: np.ndarray  # [B] int: grid index of the eta announced next
    m: np.ndarray  # [B, k] EMA of accepted estimates
    a: np.ndarray  # [B] accepted rounds
    s: np.ndarray  # [B] accepted saturated rounds


def grid_index(eta_grid: np.ndarray, eta: float, field: str) -> int:
    """Index of eta on the grid (to 1e-9), or a clear error naming the field."""
    i = int(np.argmin(np.abs(eta_grid - eta)))
    if abs(eta_grid[i] - eta) > 1e-9:
        raise ValueError(f"{field}: {eta} is not on the equilibrium grid [{eta_grid[0]:g}..{eta_grid[-1]:g}]; "
                         f"pick a grid value or widen the grid")
    return i


def params(eta_grid, mse_curve, *, eta_min: float, eta_max: float, lam: float = 1.0, alpha0: float = 0.1,
           beta: float = 0.9, oracle: bool = False, decay_all: bool = False, repeat: int = 1) -> VistaParams:
    """VISTA (or, with eta_min == eta_max, a constant-eta baseline) for `repeat` runs. `decay_all`: the step
    decays as alpha0 / sqrt(1 + a) over every accepted round, the baselines' schedule, whatever eta does (an
    ablation: VISTA's thresholds with the baselines' step)."""
    grid = np.asarray(eta_grid, dtype=np.float64)
    if eta_min > eta_max:
        raise ValueError(f"eta_min: {eta_min} exceeds eta_max {eta_max}; swap them")
    lo, hi = grid_index(grid, eta_min, "eta_min"), grid_index(grid, eta_max, "eta_max")
    if lam <= 0 or alpha0 <= 0 or not 0 <= beta < 1:
        raise ValueError(f"lam, alpha0 must be > 0 and beta in [0, 1); got {lam}, {alpha0}, {beta}")
    full = lambda v, dt: np.full(repeat, v, dtype=dt)  # noqa: E731
    return VistaParams(grid, np.asarray(mse_curve, dtype=np.float64), full(lam, float), full(alpha0, float),
                       full(lo, int), full(hi, int), full(oracle, bool), full(decay_all, bool), beta)


def concat(parts: list[VistaParams]) -> VistaParams:
    """Stack the runs of several methods into one batch (they must share the table and beta)."""
    first = parts[0]
    for p in parts[1:]:
        if p.beta != first.beta or not np.array_equal(p.eta_grid, first.eta_grid):
            raise ValueError("methods in one batch must share the equilibrium grid and beta")
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return VistaParams(first.eta_grid, first.mse_curve, cat("lam"), cat("alpha0"), cat("lo"), cat("hi"),
                       cat("oracle"), cat("decay_all"), first.beta)


def select(p: VistaParams, rows) -> VistaParams:
    """The runs `rows` of a batch (e.g. one method's, to replay it alone)."""
    return VistaParams(p.eta_grid, p.mse_curve, p.lam[rows], p.alpha0[rows], p.lo[rows], p.hi[rows], p.oracle[rows],
                       p.decay_all[rows], p.beta)


def threshold_index(p: VistaParams, target: np.ndarray) -> np.ndarray:
    """clip(MSE^{-1}(target), eta_min, eta_max): the largest grid eta whose MSE* is at most the target."""
    mono = np.maximum.accumulate(p.mse_curve)
    idx = np.searchsorted(mono, target, side="right") - 1
    return np.clip(idx, p.lo, p.hi)


def init(p: VistaParams, dim: int, grad_sq: np.ndarray | None = None) -> VistaState:
    """eta_1 = eta_max for the proxy rule; the oracle variant starts from the true gradient norm."""
    idx = p.hi.copy()
    if p.oracle.any():
        if grad_sq is None:
            raise ValueError("grad_sq: the oracle variant needs ||grad f(theta_1)||^2 at init")
        idx = np.where(p.oracle, threshold_index(p, p.lam * grad_sq), idx)
    b = p.batch
    return VistaState(idx, np.zeros((b, dim)), np.zeros(b, dtype=np.int64), np.zeros(b, dtype=np.int64))


def eta(p: VistaParams, state: VistaState) -> np.ndarray:
    return p.eta_grid[state.eta_index]


def learning_rate(p: VistaParams, state: VistaState) -> np.ndarray:
    """alpha = alpha0 / sqrt(1 + s): constant while adaptive, decaying over accepted saturated rounds (over every
    accepted round, a, where `decay_all`)."""
    return p.alpha0 / np.sqrt(1.0 + np.where(p.decay_all, state.a, state.s))


def saturated(p: VistaParams, state: VistaState) -> np.ndarray:
    return state.eta_index == p.lo


def update(p: VistaParams, state: VistaState, accepted: np.ndarray, g_hat: np.ndarray,
           grad_sq: np.ndarray | None = None) -> VistaState:
    """One round of Algorithm 1. Rejected rows keep their state exactly.

    accepted:  a += 1; s += [eta == eta_min]; m = beta m + (1 - beta) g_hat; G = ||m / (1 - beta^a)||^2
               (oracle: G = ||grad f(theta_{t+1})||^2, passed as grad_sq); eta = clip(MSE^{-1}(lam G))
    """
    acc = np.asarray(accepted, dtype=bool)
    a = state.a + acc
    s = state.s + (acc & saturated(p, state))
    m = np.where(acc[:, None], p.beta * state.m + (1.0 - p.beta) * g_hat, state.m)
    m_hat = m / (1.0 - p.beta ** np.maximum(a, 1))[:, None]
    g2 = np.einsum("bk,bk->b", m_hat, m_hat)
    if p.oracle.any():
        if grad_sq is None:
            raise ValueError("grad_sq: the oracle variant needs ||grad f(theta_{t+1})||^2 each round")
        g2 = np.where(p.oracle, grad_sq, g2)
    with np.errstate(invalid="ignore"):  # lam = inf (eta pinned at eta_max) times G = 0 in rows left unchanged
        idx = np.where(acc, threshold_index(p, p.lam * g2), state.eta_index)
    return VistaState(idx, m, a, s)


def diverging(estimate_norm: np.ndarray, accepted: np.ndarray, tau: np.ndarray, *, window: int = 10,
              factor: float = 10.0) -> np.ndarray:
    """[T, B] what the DC saw each round (||g_hat||, accepted, tau) -> [B] bool: diverging at the last accepted round.

    While adaptive VISTA keeps alpha = alpha0, and a growing gradient keeps G large and eta at eta_max, so it
    never saturates and never decays alpha. With alpha0 L (1 + lam) > 1 (L the gradient's Lipschitz constant)
    each accepted step can multiply the gradient by |1 - alpha0 L| > 1: the accepted estimates grow geometrically.
    A run is flagged when its latest accepted estimate is at least `factor` times the smallest of its previous
    `window` accepted ones and at least `factor` times that round's tau: accepted reports lie within tau of each
    other and the honest one near the gradient, so noise alone stays near tau.
    """
    acc = np.asarray(accepted, dtype=bool)
    flags = np.zeros(acc.shape[1], dtype=bool)
    for b in range(acc.shape[1]):
        seen, thresholds = estimate_norm[acc[:, b], b], tau[acc[:, b], b]
        if len(seen) >= 2:
            last = seen[-1]
            flags[b] = last >= factor * seen[-window - 1:-1].min() and last >= factor * thresholds[-1]
    return flags
