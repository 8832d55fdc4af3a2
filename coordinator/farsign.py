"""The FAR-SIGN server (docs/farsign.md, "The server") as a pure init/update over explicit state.

On a report from worker j with values y_a for its rows a in A_j:
    fast:  z_a <- z_a + b(nu_j) (y_a - z_a),  nu_j <- nu_j + 1
    slow:  x   <- x - a(n) sum_{rows a} a sign(z_a)       (full sum, the default)
           x   <- x - a(n) sum_{a in A_j} a sign(z_a)     (event-driven variant)
           n   <- n + 1
Whatever an adversarial row sends, it moves x by at most a(n) ||a|| per step.

State is per-worker arrays in a tuple, so an update rebuilds one worker's block and shares the rest, and
A^T sign(z) is kept as a running sum updated by the reporting worker's sign changes only: a step costs
O(|A_j| + d), not O(|A|). All of a worker's rows report together, so nu is one counter per worker.

Non-finite values count only through their sign (+-inf -> +-1; NaN has none and is dropped) or are all
dropped (nonfinite="drop"); finite values are clipped to +-clip so that z - y cannot overflow. A dropped
row keeps its z; the worker's counter still advances (the report arrived).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from coordinator.directions import Design
from coordinator.report_stream import ServerRule

# (alpha, beta, gamma) per variant: these balance the error terms and give the abstract's rates
# n^(-1/4+eps) (first-order) and n^(-1/6+eps) (zeroth-order); see docs/farsign.md, "Step sizes".
EXPONENTS = {"first-order": (3 / 4, 1 / 2 + 0.01, None), "zeroth-order": (5 / 6, 2 / 3, 1 / 6)}
Variant = Literal["first-order", "zeroth-order"]


@dataclass(frozen=True)
class Schedule:
    """s(n) = scale * (n + offset)^(-exponent)."""

    scale: float
    exponent: float
    offset: float = 1.0

    def __call__(self, n):
        return self.scale * (np.asarray(n, dtype=np.float64) + self.offset) ** -self.exponent


@dataclass(frozen=True)
class FarSignParams:
    design: Design
    slow: Schedule  # a(n), indexed by server updates
    fast: Schedule  # b(nu), indexed by the reporting worker's count
    perturbation: Schedule | None = None  # c(n): zeroth-order workers read it at the version they use
    full_sum: bool = True
    nonfinite: Literal["sign", "drop"] = "sign"
    clip: float = 1e30


class FarSignState(NamedTuple):
    x: np.ndarray  # [d] the published model
    z: tuple[np.ndarray, ...]  # per worker [k_j]: fast averages of its directional derivatives
    nu: np.ndarray  # [m] reports received per worker
    signed: np.ndarray  # [d] A^T sign(z), maintained incrementally
    n: int  # server updates (the model version)


def params(design: Design, variant: Variant = "first-order", *, a0: float = 0.1, b0: float = 1.0,
           c0: float = 0.1, n0: float = 1.0, alpha: float | None = None, beta: float | None = None,
           gamma: float | None = None, full_sum: bool = True, nonfinite: Literal["sign", "drop"] = "sign",
           clip: float = 1e30) -> FarSignParams:
    """a(n) = a0 (n + n0)^-alpha, b(nu) = b0 (nu + 1)^-beta (so b0 = 1 makes z_a = y_a on the first report),
    c(n) = c0 (n + n0)^-gamma; exponents default to the variant's row of EXPONENTS."""
    if variant not in EXPONENTS:
        raise ValueError(f"variant: {variant!r} is not one of {sorted(EXPONENTS)}")
    da, db, dg = EXPONENTS[variant]
    alpha, beta = alpha if alpha is not None else da, beta if beta is not None else db
    gamma = gamma if gamma is not None else dg
    if not (a0 > 0 and 0 < b0 <= 1 and n0 > 0 and clip > 0):
        raise ValueError(f"need a0 > 0, 0 < b0 <= 1, n0 > 0, clip > 0; got a0={a0}, b0={b0}, n0={n0}, clip={clip}")
    if not 0.5 < beta <= 1 or alpha <= beta:
        raise ValueError(f"alpha, beta: need 1/2 < beta <= 1 (sum b = inf, sum b^2 < inf) and alpha > beta "
                         f"(a/b -> 0); got alpha={alpha}, beta={beta}")
    perturbation = Schedule(c0, gamma, n0) if variant == "zeroth-order" else None
    return FarSignParams(design, Schedule(a0, alpha, n0), Schedule(b0, beta, 1.0), perturbation, full_sum,
                         nonfinite, clip)


def init(p: FarSignParams, x0: np.ndarray) -> FarSignState:
    d = p.design
    z = tuple(np.zeros(d.size(j)) for j in range(d.workers))
    return FarSignState(np.array(x0, dtype=np.float64), z, np.zeros(d.workers, dtype=np.int64), np.zeros(d.dim), 0)


def sanitize(p: FarSignParams, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(y, keep): what the fast step averages, and which rows it updates (None: all, the common case,
    which skips a masked select that would cost more than the rest of the step)."""
    y = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(y)
    if finite.all():
        return np.clip(y, -p.clip, p.clip), None
    keep = finite if p.nonfinite == "drop" else ~np.isnan(y)
    return np.where(finite, np.clip(np.nan_to_num(y), -p.clip, p.clip), np.sign(np.nan_to_num(y))), keep


def update(p: FarSignParams, state: FarSignState, worker: int, values: np.ndarray) -> FarSignState:
    if not 0 <= worker < p.design.workers:
        raise ValueError(f"report: worker {worker} is not in 0..{p.design.workers - 1}")
    size = p.design.size(worker)
    if np.shape(values) != (size,):
        raise ValueError(f"report of worker {worker}: expected {size} values, got shape {np.shape(values)}")
    y, keep = sanitize(p, values)
    z_old = state.z[worker]
    b = p.fast(state.nu[worker])
    z_new = z_old + b * (y - z_old)
    if keep is not None:
        z_new = np.where(keep, z_new, z_old)
    s_old, s_new = np.sign(z_old), np.sign(z_new)
    signed = state.signed + p.design.transpose(worker, s_new - s_old)
    step = signed if p.full_sum else p.design.transpose(worker, s_new)
    nu = state.nu.copy()
    nu[worker] += 1
    z = state.z[:worker] + (z_new,) + state.z[worker + 1:]
    return FarSignState(state.x - p.slow(state.n) * step, z, nu, signed, state.n + 1)


def rule(p: FarSignParams) -> ServerRule:
    return ServerRule(lambda x0: init(p, x0), lambda s, r: update(p, s, r.worker, r.values))

