"""Synthetic objectives of the VISTA experiments, batched over runs (theta [B, d])."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Quadratic:
    """f(theta) = 1/2 sum_i c_i theta_i^2 from theta_1 = start (the 3-D task: c = (1, 2, 3), start (10, 10, 10))."""

    curvature: tuple[float, ...] = (1.0, 2.0, 3.0)
    start: tuple[float, ...] = (10.0, 10.0, 10.0)

    @property
    def dim(self) -> int:
        return len(self.curvature)

    def init(self, batch: int) -> np.ndarray:
        return np.tile(np.asarray(self.start, dtype=np.float64), (batch, 1))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        return theta * np.asarray(self.curvature)

    def loss(self, theta: np.ndarray) -> np.ndarray:
        return 0.5 * (theta * theta * np.asarray(self.curvature)).sum(axis=1)


@dataclass(frozen=True)
class LogBowl1D:
    """f(x) = log(1 + x^2) + x^2 / 20: smooth, nonconvex (inflexions at |x| = 1), minimum 0 at x = 0."""

    start: float = 10.0
    dim: int = 1

    def init(self, batch: int) -> np.ndarray:
        return np.full((batch, 1), self.start, dtype=np.float64)

    def grad(self, theta: np.ndarray) -> np.ndarray:
        return 2.0 * theta / (1.0 + theta * theta) + theta / 10.0

    def loss(self, theta: np.ndarray) -> np.ndarray:
        x = theta[:, 0]
        return np.log1p(x * x) + x * x / 20.0
