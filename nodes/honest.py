"""The honest worker: the true gradient plus bounded benign noise."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nodes.context import RoundContext


def ball_noise(batch: int, dim: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Uniform in the dim-ball of the given radius: Gaussian direction, radius * U^(1/dim)."""
    z = rng.standard_normal((batch, dim))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return z * (radius * rng.random(batch) ** (1.0 / dim))[:, None]


@dataclass(frozen=True)
class HonestReport:
    """y = grad f(theta) + n, n ~ Uniform(B_delta): the experiments' model of quantisation and hardware noise.

    The fixed-point codec adds at most sqrt(k) 2^-(s+1) more; keep that well below delta.
    """

    delta: float

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        b, k = ctx.grad.shape
        return ctx.grad + ball_noise(b, k, self.delta, ctx.rng)
