"""FAR-SIGN workers (docs/farsign.md, "Workers"): honest first-order and zeroth-order reporters and the
adversarial wrapper, over any Task (nodes.models.SupervisedTask for MNIST; synthetic objectives in sims).

A worker pool is a callable `respond(workers, x, version, rng) -> [values per worker]`: every listed worker
read the same published model x (version `version`), so their gradients come from one batched call.
Workers never see the server: they get their rows as callables (`project`, `rows`) from whoever wires them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from nodes.farsign_attacks import AttackContext


class Task(Protocol):
    """What workers compute on: minibatches, their gradients and losses, and a low-noise reference gradient."""

    def sample(self, worker: int, rng: np.random.Generator) -> Any: ...

    def grads(self, x: np.ndarray, batches: Sequence[Any]) -> np.ndarray: ...  # [k, d]

    def losses(self, points: np.ndarray, batch: Any) -> np.ndarray: ...  # [p]: F(point; batch)

    def reference(self, x: np.ndarray) -> np.ndarray: ...  # [d]


Respond = Callable[[Sequence[int], np.ndarray, int, np.random.Generator], list]


@dataclass(frozen=True)
class FirstOrder:
    """y_a = a^T grad F(x; xi) for the rows a of the worker's block: one minibatch gradient per report.
    With project = identity this is a plain gradient worker (the baselines' workers)."""

    task: Task
    project: Callable[[int, np.ndarray], np.ndarray]  # (worker, g [d]) -> A_j g

    def __call__(self, workers: Sequence[int], x: np.ndarray, version: int, rng: np.random.Generator) -> list:
        g = self.task.grads(x, [self.task.sample(j, rng) for j in workers])
        return [self.project(j, gj) for j, gj in zip(workers, g)]

    def reference(self, worker: int, x: np.ndarray) -> np.ndarray:
        return self.project(worker, self.task.reference(x))


@dataclass(frozen=True)
class ZerothOrder:
    """y_a = (F(x + c a; xi) - F(x - c a; xi)) / (2c), both on the same minibatch xi, c = c(version).

    The 2 k perturbed points are evaluated `chunk` rows at a time in one vectorised call each.
    """

    task: Task
    rows: Callable[[int], np.ndarray]  # worker -> A_j [k, d]
    perturbation: Callable[[int], float]  # c(n), the server's public schedule
    chunk: int = 256

    def __call__(self, workers: Sequence[int], x: np.ndarray, version: int, rng: np.random.Generator) -> list:
        c = float(self.perturbation(version))
        out = []
        for j in workers:
            batch, rows = self.task.sample(j, rng), self.rows(j)
            diffs = []
            for lo in range(0, len(rows), self.chunk):
                a = c * rows[lo:lo + self.chunk]
                f = self.task.losses(np.concatenate([x + a, x - a]), batch)
                diffs.append((f[:len(a)] - f[len(a):]) / (2 * c))
            out.append(np.concatenate(diffs))
        return out

    def reference(self, worker: int, x: np.ndarray) -> np.ndarray:
        return self.rows(worker) @ self.task.reference(x)


@dataclass(frozen=True)
class WithAdversaries:
    """Workers in `adversaries` compute their honest values and send attack(context) instead."""

    honest: FirstOrder | ZerothOrder
    adversaries: frozenset[int]
    attack: Callable[[AttackContext], np.ndarray]
    x0: np.ndarray  # the initial model, where stale replays are computed

    def __call__(self, workers: Sequence[int], x: np.ndarray, version: int, rng: np.random.Generator) -> list:
        values = self.honest(workers, x, version, rng)
        for i, j in enumerate(workers):
            if j in self.adversaries:
                ctx = AttackContext(values[i], rng, lambda j=j: self.honest.reference(j, x),
                                    lambda j=j: self.honest([j], self.x0, 0, rng)[0])
                values[i] = np.asarray(self.attack(ctx), dtype=np.float64)
        return values
