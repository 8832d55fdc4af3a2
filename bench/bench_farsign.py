"""FAR-SIGN speed: server updates per second at d = 1e5 (vectorised vs a per-row Python loop, same run),
and the discrete-event simulator's events per second.

    PYTHONPATH=. .venv/bin/python bench/bench_farsign.py [--dim 100000] [--workers 10]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from coordinator import directions, farsign
from nodes import attacks as classic
from nodes.farsign_workers import FirstOrder, WithAdversaries
from sims.async_clock import Clock, Latency, simulate
from sims.farsign_experiments import NoisyObjective, Rosenbrock


def per_second(fn, count: int) -> float:
    t0 = time.perf_counter()
    fn(count)
    return count / (time.perf_counter() - t0)


def vectorised(p: farsign.FarSignParams, reports: list[np.ndarray]):
    def go(count: int) -> None:
        s = farsign.init(p, np.zeros(p.design.dim))
        for i in range(count):
            s = farsign.update(p, s, i % p.design.workers, reports[i % len(reports)])
    return go


def naive(p: farsign.FarSignParams, reports: list[np.ndarray]):
    """The same rule written row by row, as the spec's pseudo-code reads (replicated basis only)."""
    m, d = p.design.workers, p.design.dim
    rows = [r.tolist() for r in reports]

    def go(count: int) -> None:
        x, z, nu = [0.0] * d, [[0.0] * d for _ in range(m)], [0] * m
        for n in range(count):
            j, y = n % m, rows[n % len(rows)]
            b = float(p.fast(nu[j]))
            for i in range(d):
                z[j][i] += b * (y[i] - z[j][i])
            nu[j] += 1
            a = float(p.slow(n))
            for k in range(m) if p.full_sum else (j,):  # every row of every worker, or the reporter's
                zk = z[k]
                for i in range(d):
                    x[i] -= a * ((zk[i] > 0) - (zk[i] < 0))
    return go


def simulator_events(workers: int, count: int, task=None) -> float:
    """Events (reports applied) per second; task=None: workers return zeros, so this is the simulator and
    the FAR-SIGN server alone."""
    dim = 10
    d = directions.replicated_basis(dim, workers)
    p = farsign.params(d, a0=0.02)
    x0 = np.zeros(dim)
    clock = Clock(Latency("pareto", 1.0, 2.0), Latency("exponential", 0.1))
    if task is None:
        def pool(ids, x, version, rng):
            return [np.zeros(dim) for _ in ids]
    else:
        pool = WithAdversaries(FirstOrder(task, d.project), frozenset(range(workers - 3, workers)),
                               classic.SignFlip(), x0)
    t0 = time.perf_counter()
    simulate(farsign.rule(p), pool, clock, workers, x0, budget=count, seed=0)
    return count / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--events", type=int, default=50_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    reports = [rng.standard_normal(args.dim) for _ in range(8)]
    design = directions.replicated_basis(args.dim, args.workers)
    print(f"server, replicated basis, d = {args.dim}, m = {args.workers} (rows per report = d, all rows = m d)")
    for full_sum in (True, False):
        p = farsign.params(design, full_sum=full_sum)
        fast = per_second(vectorised(p, reports), args.updates)
        slow = per_second(naive(p, reports), 2)
        label = "full sum    " if full_sum else "event-driven"
        print(f"  {label}: vectorised {fast:10.1f} updates/s   per-row loop {slow:8.3f} updates/s   "
              f"speed-up {fast / slow:8.0f}x")
    print(f"simulator, m = {args.workers}, d = 10")
    print(f"  null workers (clock + server): {simulator_events(args.workers, args.events):10.0f} events/s")
    task = NoisyObjective(Rosenbrock(10), 1.0)
    print(f"  Rosenbrock first-order, 3 sign-flippers: {simulator_events(args.workers, args.events, task):10.0f} "
          f"events/s")


if __name__ == "__main__":
    main()
