"""The synthetic objectives, one definition each, batched over leading axes (theta [..., d]).

Each is a task for the round driver (`dim`, `init(batch)`, `grad`, `loss`) with its minimum value `f_star`,
so that runs report the gap f - f*, and `smoothness`: the Lipschitz constant L of the gradient where one
holds globally (None otherwise). VISTA keeps alpha = alpha0 while adaptive, so it needs
alpha0 <= 1 / (L (1 + lam)) (docs/cli.md, "Step size").

`OBJECTIVES` names the ones `--set objective=NAME` selects; their dataclass fields are the settings.
Only numpy is imported here: the config models read the fields without loading scipy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Protocol

import numpy as np


class Objective(Protocol):
    """What a VISTA task is: the driver's Task (dim, init, grad, loss) plus f* for the gap f - f*."""

    dim: int
    f_star: float
    smoothness: float | None

    def init(self, batch: int) -> np.ndarray: ...  # [batch, dim], the starting point of every run

    def grad(self, theta: np.ndarray) -> np.ndarray: ...  # [..., dim]

    def loss(self, theta: np.ndarray) -> np.ndarray: ...  # [...]


def _start(start, dim: int, default: float) -> np.ndarray:
    x = np.full(dim, default, dtype=np.float64) if start is None else np.asarray(start, dtype=np.float64)
    if x.shape != (dim,):
        raise ValueError(f"start: {len(x)} coordinates for a {dim}-dimensional objective; give {dim}")
    return x


@dataclass(frozen=True)
class Quadratic:
    """f(theta) = 1/2 sum_i c_i theta_i^2; f* = 0; L = max c_i. The 3-D task: c = (1, 2, 3) from (10, 10, 10)."""

    curvature: tuple[float, ...] = (1.0, 2.0, 3.0)
    start: tuple[float, ...] | None = None  # default: 10 in every coordinate
    f_star = 0.0

    def __post_init__(self):
        if not self.curvature or min(self.curvature) <= 0:
            raise ValueError(f"curvature: need positive entries, got {list(self.curvature)}")
        _start(self.start, self.dim, 10.0)

    @property
    def dim(self) -> int:
        return len(self.curvature)

    @property
    def smoothness(self) -> float:
        return float(max(self.curvature))

    def init(self, batch: int) -> np.ndarray:
        return np.tile(_start(self.start, self.dim, 10.0), (batch, 1))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        return theta * np.asarray(self.curvature)

    def loss(self, theta: np.ndarray) -> np.ndarray:
        return 0.5 * (theta * theta * np.asarray(self.curvature)).sum(axis=-1)


@dataclass(frozen=True)
class LogBowl:
    """f(x) = log(1 + x^2) + x^2 / 20 in one dimension: smooth, nonconvex (inflexions at |x| = 1), f* = 0 at
    x = 0; L = max |f''| = f''(0) = 2.1."""

    start: tuple[float, ...] | None = None  # default: (10,)
    dim = 1
    f_star = 0.0
    smoothness = 2.1

    def __post_init__(self):
        _start(self.start, 1, 10.0)

    def init(self, batch: int) -> np.ndarray:
        return np.tile(_start(self.start, 1, 10.0), (batch, 1))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        return 2.0 * theta / (1.0 + theta * theta) + theta / 10.0

    def loss(self, theta: np.ndarray) -> np.ndarray:
        x = theta[..., 0]
        return np.log1p(x * x) + x * x / 20.0


@dataclass(frozen=True)
class Rosenbrock:
    """f(x) = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; f* = 0 at (1, ..., 1); start at 0. Not globally
    smooth (the curvature grows with |x|; about 200 + 1200 x_i^2 along the valley)."""

    dim: int = 10
    start: tuple[float, ...] | None = None  # default: the origin
    f_star = 0.0
    smoothness = None

    def __post_init__(self):
        if self.dim < 2:
            raise ValueError(f"dim: Rosenbrock needs d >= 2, got {self.dim}")
        _start(self.start, self.dim, 0.0)

    def init(self, batch: int) -> np.ndarray:
        return np.tile(_start(self.start, self.dim, 0.0), (batch, 1))

    def loss(self, x: np.ndarray) -> np.ndarray:
        a, b = x[..., :-1], x[..., 1:]
        return (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2).sum(axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        a, b = x[..., :-1], x[..., 1:]
        g = np.zeros_like(x)
        g[..., :-1] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
        g[..., 1:] += 200.0 * (b - a * a)
        return g


@dataclass(frozen=True)
class LogisticRegression:
    """f(w) = (1/n) sum_k log(1 + exp(-y_k x_k^T w)) + (l2 / 2) ||w||^2 on a seeded synthetic set: x_k ~ N(0, I),
    y_k = sign(x_k^T w0 + N(0, 1)) with w0 ~ N(0, I). Strongly convex (l2 > 0): f* is its unique minimum, found
    once by L-BFGS to a gradient norm of 1e-10. L = lambda_max(X^T X) / (4 n) + l2. Start at 0."""

    dim: int = 5
    samples: int = 200
    l2: float = 0.1
    data_seed: int = 0
    start: tuple[float, ...] | None = None  # default: the origin
    x: np.ndarray = field(init=False, repr=False, compare=False)
    y: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.dim < 1 or self.samples < 1 or self.l2 <= 0:
            raise ValueError(f"logreg: need dim >= 1, samples >= 1 and l2 > 0; got {self.dim}, {self.samples}, "
                             f"{self.l2}")
        _start(self.start, self.dim, 0.0)
        rng = np.random.default_rng(self.data_seed)
        x = rng.standard_normal((self.samples, self.dim))
        y = np.sign(x @ rng.standard_normal(self.dim) + rng.standard_normal(self.samples))
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", np.where(y == 0, 1.0, y))

    @property
    def smoothness(self) -> float:
        return float(np.linalg.eigvalsh(self.x.T @ self.x)[-1] / (4 * self.samples) + self.l2)

    @cached_property
    def f_star(self) -> float:
        from scipy.optimize import minimize

        res = minimize(lambda w: (float(self.loss(w)), self.grad(w)), np.zeros(self.dim), jac=True,
                       method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-16, "maxiter": 10_000})
        if np.linalg.norm(self.grad(res.x)) > 1e-8:  # a strongly convex minimum this small is always reached
            raise RuntimeError(f"logreg: L-BFGS stopped at gradient norm {np.linalg.norm(self.grad(res.x)):.1e}")
        return float(self.loss(res.x))

    def init(self, batch: int) -> np.ndarray:
        return np.tile(_start(self.start, self.dim, 0.0), (batch, 1))

    def loss(self, w: np.ndarray) -> np.ndarray:
        margins = (w @ self.x.T) * self.y  # [..., n]
        return np.logaddexp(0.0, -margins).mean(axis=-1) + 0.5 * self.l2 * (w * w).sum(axis=-1)

    def grad(self, w: np.ndarray) -> np.ndarray:
        margins = (w @ self.x.T) * self.y
        weight = 0.5 * (1.0 - np.tanh(margins / 2.0))  # sigma(-margin), overflow-free
        return -(weight * self.y) @ self.x / self.samples + self.l2 * w


@dataclass(frozen=True)
class CauchyRegression:
    """f(x) = (1/N) sum_k log(1 + (b_k^T x - t_k)^2): robust regression with a smooth nonconvex loss (FAR-SIGN's
    rates; no certified minimum, so only its gradient norm is reported). b_k ~ N(0, I), t_k = b_k^T x* + outliers
    (20% of them N(0, 10^2)), x* ~ N(0, I), from a fixed seed; start at 0."""

    dim: int = 10
    samples: int = 200
    seed: int = 0
    b: np.ndarray = field(init=False, repr=False, compare=False)
    t: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        b = rng.standard_normal((self.samples, self.dim))
        outliers = 10.0 * rng.standard_normal(self.samples) * (rng.random(self.samples) < 0.2)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "t", b @ rng.standard_normal(self.dim) + outliers)

    def init(self, batch: int) -> np.ndarray:
        return np.zeros((batch, self.dim))

    def loss(self, x: np.ndarray) -> np.ndarray:
        return np.log1p((x @ self.b.T - self.t) ** 2).mean(axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        r = x @ self.b.T - self.t
        return (2.0 * r / (1.0 + r * r)) @ self.b / self.samples


# what `--set objective=NAME` selects in the VISTA experiments
OBJECTIVES: dict[str, type] = {"quadratic": Quadratic, "logbowl": LogBowl, "rosenbrock": Rosenbrock,
                               "logreg": LogisticRegression}


def settings(name: str) -> list[str]:
    """The settings an objective takes: its dataclass fields that are constructor arguments."""
    return [f.name for f in fields(OBJECTIVES[name]) if f.init]


def gap(objective: Objective, loss: np.ndarray) -> np.ndarray:
    """f - f*, clipped at 0 where rounding puts the loss a hair below f*."""
    return np.maximum(np.asarray(loss, dtype=np.float64) - objective.f_star, 0.0)


def step_bound(objective: Objective, lam: float) -> float:
    """The largest alpha0 with alpha0 <= 1 / (L (1 + lam)), or NaN where no global L is known."""
    return 1.0 / (objective.smoothness * (1.0 + lam)) if objective.smoothness else math.nan
