"""Classic Byzantine attacks as small callables, for comparison with the rational adversary.

Omniscient attacks (IPM, ALIE, Mimic, ThresholdHugging) read this round's honest reports, which
commit-reveal denies them on-chain: they model what an adversary could do without it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nodes.context import RoundContext


def _unit(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of v scaled to unit length; zero rows get a random direction."""
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    rand = rng.standard_normal(v.shape)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    return np.where(norm > 0, v / np.where(norm > 0, norm, 1.0), rand)


@dataclass(frozen=True)
class SignFlip:
    """y = -scale * grad f(theta)   (Allen-Zhu et al. 2020)."""

    scale: float = 1.0

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        return -self.scale * ctx.grad


@dataclass(frozen=True)
class IPM:
    """Inner-product manipulation: y = -epsilon * mean(honest)   (Xie et al. 2020)."""

    epsilon: float = 0.1

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        return -self.epsilon * ctx.honest.mean(axis=1)


@dataclass(frozen=True)
class ALIE:
    """A little is enough: y = mean(honest) - z * std(honest), coordinate-wise   (Baruch et al. 2019)."""

    z: float = 1.0

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        return ctx.honest.mean(axis=1) - self.z * ctx.honest.std(axis=1)


@dataclass(frozen=True)
class Gaussian:
    """y = grad f(theta) + N(0, sigma^2 I)."""

    sigma: float = 10.0

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        return ctx.grad + self.sigma * ctx.rng.standard_normal(ctx.grad.shape)


@dataclass(frozen=True)
class Mimic:
    """y = honest report `index`: collects the reward for no work, adds no error of its own."""

    index: int = 0

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        return ctx.honest[:, self.index].copy()


@dataclass(frozen=True)
class NonFinite:
    """y = NaN (or +inf): the codec refuses it, so the node cannot reveal and is slashed."""

    value: float = float("nan")

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        return np.full_like(ctx.grad, self.value)


@dataclass(frozen=True)
class ThresholdHugging:
    """Maximal distance that is still always accepted: y = c + (tau (1 - margin) - rho) u,

    with c the centroid of the honest reports, rho their largest distance from c, u a random unit vector:
    every pair (y, honest_i) is then within tau. Without honest reports in hand it centres on the gradient
    with rho = delta_bound (an honest report lies within delta of it): still always accepted.
    """

    margin: float = 1e-3
    delta_bound: float = 1.0
    omniscient: bool = True

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        if self.omniscient and ctx.honest.shape[1] > 0:
            c = ctx.honest.mean(axis=1)
            rho = np.linalg.norm(ctx.honest - c[:, None], axis=2).max(axis=1)
        else:
            c, rho = ctx.grad, np.full(len(ctx.tau), self.delta_bound)
        r = np.maximum(ctx.tau * (1.0 - self.margin) - rho, 0.0)
        return c + r[:, None] * _unit(ctx.rng.standard_normal(ctx.grad.shape), ctx.rng)
