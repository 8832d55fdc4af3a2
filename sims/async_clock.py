"""Discrete-event simulation of asynchronous workers on a virtual clock (seeded, so reproducible).

Worker j repeatedly: reads the published model (version v) at time t, computes for C ~ compute law (times
its slowdown factor), and its report arrives at t + C + D, D ~ delay law; the server applies reports in
arrival order. An asynchronous worker starts its next job as soon as it finishes computing; under a
synchronous rule every worker waits for the next version (so the slowest worker sets the pace).

Workers that start between two arrivals all read the same model, so their reports are computed in one
batched call, just before the next arrival is applied.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from coordinator.report_stream import Applied, Report, ServerRule, apply
from nodes.farsign_workers import Respond


@dataclass(frozen=True)
class Latency:
    """A positive random duration with the given mean. shape: lognormal sigma; Pareto tail index
    (> 1, smaller = heavier tail, infinite variance below 2); ignored by constant and exponential."""

    kind: Literal["constant", "exponential", "lognormal", "pareto"] = "exponential"
    mean: float = 1.0
    shape: float = 1.0

    def __post_init__(self):
        if self.mean < 0 or (self.kind == "pareto" and self.shape <= 1) or self.shape <= 0:
            raise ValueError(f"Latency: need mean >= 0, shape > 0 (> 1 for pareto); got {self}")

    def sample(self, rng: np.random.Generator, size: int | None = None):
        if self.kind == "constant":
            return np.full(size, self.mean) if size is not None else self.mean
        if self.kind == "exponential":
            return rng.exponential(self.mean, size)
        if self.kind == "lognormal":  # E = exp(mu + sigma^2/2)
            return rng.lognormal(np.log(self.mean) - self.shape ** 2 / 2, self.shape, size)
        # Pareto with tail index k and minimum x_m has mean k x_m / (k - 1)
        return self.mean * (self.shape - 1) / self.shape * (1.0 + rng.pareto(self.shape, size))


@dataclass(frozen=True)
class Clock:
    compute: Latency = Latency("exponential", 1.0)
    delay: Latency = Latency("exponential", 0.1)
    slowdown: tuple[float, ...] = ()  # per-worker factor on compute time (persistent stragglers); default 1

    def factor(self, worker: int) -> float:
        return self.slowdown[worker] if worker < len(self.slowdown) else 1.0


Observe = Callable[[Any, float], None]  # (server state after an update, time)


def simulate(rule: ServerRule, respond: Respond, clock: Clock, workers: int, x0: np.ndarray, *, budget: int,
             seed: int, horizon: float = np.inf, observe: Observe | None = None) -> tuple[Any, list[Applied]]:
    """Run until `budget` server updates or virtual time `horizon`; returns (final state, trace)."""
    clock_rng, work_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    state = rule.init(x0)
    events: list[tuple[float, int, int, int]] = []  # (time, seq, worker, job); job -1 = start a job
    seq = 0
    jobs: dict[int, tuple[int, int, float]] = {}  # job -> (worker, version, arrival)
    values: dict[int, np.ndarray] = {}
    batch: list[int] = []  # started jobs whose values are not computed yet

    def push(time: float, worker: int, job: int) -> None:
        nonlocal seq
        heapq.heappush(events, (time, seq, worker, job))
        seq += 1

    for j in range(workers):
        push(0.0, j, -1)
    trace: list[Applied] = []
    while events and state.n < budget:
        time, _, worker, job = heapq.heappop(events)
        if time > horizon:
            break
        if job < 0:  # the worker reads the model now; only its timing is drawn here
            compute = clock.factor(worker) * clock.compute.sample(clock_rng)
            arrival = time + compute + clock.delay.sample(clock_rng)
            jobs[seq] = (worker, state.n, arrival)
            batch.append(seq)
            push(arrival, worker, seq)
            if not rule.synchronous:
                push(time + compute, worker, -1)
            continue
        if batch:  # no arrival since these jobs started, so they all read the current model
            for b, v in zip(batch, respond([jobs[b][0] for b in batch], state.x, state.n, work_rng)):
                values[b] = v
            batch = []
        w, version, arrival = jobs.pop(job)
        before = state.n
        state, row = apply(rule, state, Report(w, version, values.pop(job), arrival))
        trace.append(row)
        if state.n > before:
            if rule.synchronous:
                for j in range(workers):
                    push(time, j, -1)
            if observe is not None:
                observe(state, time)
    return state, trace
