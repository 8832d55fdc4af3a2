"""Baselines for FAR-SIGN: robust aggregators as small callables over reports [m, d], and the two gradient
servers that use them under the same clock (synchronous aggregation; plain asynchronous SGD).

Aggregators take finite input; the servers drop a report that is not finite before aggregating (the least
any server does), so NaN/inf attacks reach the aggregators as missing reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from coordinator.report_stream import Report, ServerRule

Aggregator = Callable[[np.ndarray], np.ndarray]


def centred(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vectors - c, c) with c the coordinate-wise median: distances do not change, and float rounding no
    longer swamps them when all reports share a large offset (the median ignores a minority's 1e6 values,
    where the mean would be dragged to them)."""
    c = np.median(vectors, axis=0)
    return vectors - c, c


def squared_distances(vectors: np.ndarray) -> np.ndarray:
    """[m, m] ||v_i - v_j||^2 via the Gram matrix of centred vectors."""
    v, _ = centred(vectors)
    sq = np.einsum("id,id->i", v, v)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * v @ v.T, 0.0)


@dataclass(frozen=True)
class Mean:
    """(1/m) sum_i v_i: not robust (one report of 1e6 moves it by 1e6/m)."""

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return vectors.mean(axis=0)


@dataclass(frozen=True)
class CoordinateMedian:
    """median_i v_i[k] for each coordinate k   (Yin et al. 2018, "Byzantine-robust distributed learning")."""

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return np.median(vectors, axis=0)


@dataclass(frozen=True)
class TrimmedMean:
    """Per coordinate, drop the f largest and f smallest values and average the rest   (Yin et al. 2018)."""

    f: int

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        m = len(vectors)
        if 2 * self.f >= m:
            raise ValueError(f"TrimmedMean: need 2f < m, got f={self.f}, m={m}")
        return np.sort(vectors, axis=0)[self.f:m - self.f].mean(axis=0)


def krum_scores(vectors: np.ndarray, f: int) -> np.ndarray:
    """score_i = sum of ||v_i - v_j||^2 over the m - f - 2 nearest other reports j   (Blanchard et al. 2017)."""
    m = len(vectors)
    if m - f - 2 < 1:
        raise ValueError(f"Krum: need m - f - 2 >= 1, got f={f}, m={m}")
    dist = np.sort(squared_distances(vectors), axis=1)[:, 1:m - f - 1]  # column 0 is the distance to itself
    return dist.sum(axis=1)


@dataclass(frozen=True)
class Krum:
    """v_{i*} with i* = argmin_i score_i   (Blanchard et al. 2017, "Machine learning with adversaries")."""

    f: int

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return vectors[np.argmin(krum_scores(vectors, self.f))]


@dataclass(frozen=True)
class MultiKrum:
    """Mean of the q reports with the lowest Krum scores, q = m - f by default   (El Mhamdi et al. 2018)."""

    f: int
    q: int | None = None

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        q = self.q or len(vectors) - self.f
        return vectors[np.argsort(krum_scores(vectors, self.f), kind="stable")[:q]].mean(axis=0)


@dataclass(frozen=True)
class GeometricMedian:
    """argmin_z sum_i ||z - v_i|| by smoothed Weiszfeld: z <- sum_i w_i v_i / sum_i w_i,
    w_i = 1 / max(nu, ||z - v_i||)   (Weiszfeld 1937; Pillutla et al. 2022, "Robust aggregation for FL").

    Runs on centred vectors from z = 0, i.e. it starts at the coordinate-wise median, and stops after
    `iters` steps or when z moves less than tol * (1 + ||z||).
    """

    nu: float = 1e-6
    iters: int = 100
    tol: float = 1e-10

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        v, c = centred(vectors)
        z = np.zeros(v.shape[1])
        for _ in range(self.iters):
            w = 1.0 / np.maximum(self.nu, np.linalg.norm(v - z, axis=1))
            new = w @ v / w.sum()
            done = np.linalg.norm(new - z) <= self.tol * (1.0 + np.linalg.norm(new))
            z = new
            if done:
                break
        return z + c


@dataclass(frozen=True)
class SignMajority:
    """sign(sum_i sign(v_i)): signSGD with majority vote   (Bernstein et al. 2019, ICLR)."""

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return np.sign(np.sign(vectors).sum(axis=0))


class GradientState(NamedTuple):
    x: np.ndarray
    n: int
    pending: tuple[Report, ...] = ()  # synchronous: this version's reports received so far


def synchronous(aggregate: Aggregator, lr: float, workers: int) -> ServerRule:
    """x <- x - lr * aggregate(reports of all m workers on version n); n <- n + 1.

    Reports on an older version are late for their round and ignored; non-finite ones count as received
    but are left out of the aggregate.
    """
    def update(state: GradientState, report: Report) -> GradientState:
        if report.version != state.n:
            return state
        pending = state.pending + (report,)
        if len(pending) < workers:
            return state._replace(pending=pending)
        finite = [r.values for r in pending if np.isfinite(r.values).all()]
        step = aggregate(np.stack(finite)) if finite else 0.0
        return GradientState(state.x - lr * step, state.n + 1)

    return ServerRule(lambda x0: GradientState(np.array(x0, dtype=np.float64), 0), update, synchronous=True)


def asynchronous_sgd(lr: float) -> ServerRule:
    """x <- x - lr * g for each report g as it arrives, however stale; non-finite reports are skipped."""
    def update(state: GradientState, report: Report) -> GradientState:
        ok = np.isfinite(report.values).all()
        return GradientState(state.x - lr * report.values if ok else state.x, state.n + 1)

    return ServerRule(lambda x0: GradientState(np.array(x0, dtype=np.float64), 0), update)
