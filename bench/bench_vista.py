"""Speed of the VISTA experiments. Prints figures; asserts nothing about time.

1. The whole quad3d figure (VISTA + 6 constant-eta baselines x 20 runs x 3000 rounds) through the shared
   driver and a batched MemoryLedger, with the equilibrium table already cached (target: < 30 s here).
2. The same work as a per-run loop (B = 1 ledgers, one run at a time), measured on a slice and scaled:
   the vectorisation ratio.
3. The cost of one protocol round relative to computing the gradient alone, for the batch.

    python bench/bench_vista.py [--runs 20] [--rounds 3000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from coordinator import vista
from coordinator.driver import provision, run
from coordinator.memory_ledger import MemoryLedger
from economics import solve
from nodes.swarm import node_addresses
from sims.objectives import Quadratic
from sims.vista_experiments import Quad3dConfig, game, run_vista, setup


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def per_run_loop(cfg: Quad3dConfig, runs: int, rounds: int) -> float:
    """Baseline: every run of every method as its own B = 1 ledger and driver call."""
    task = Quadratic()
    s = setup(cfg.model_copy(update={"runs": 1}), task.dim, progress=False)
    names, control, swarm, proto = s.names, s.control, s.swarm, s.proto
    t0 = time.perf_counter()
    for m in range(len(names)):
        single = vista.select(control, slice(m, m + 1))
        for r in range(runs):
            led = MemoryLedger(batch=1, min_stake=proto.min_stake, slash_bps=proto.slash_bps)
            members = node_addresses(2, r)
            provision(led, members, proto, rounds)
            run(led, task, swarm, single, proto, members=members, rounds=rounds, rng=np.random.default_rng(r))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3000)
    args = ap.parse_args()
    cfg = Quad3dConfig(runs=args.runs, rounds=args.rounds)
    _, t_table = timed(lambda: solve(game(cfg, 3), cfg.eta_grid(), progress=False))
    print(f"equilibrium table (d=3, {len(cfg.eta_grid())} etas; cold or cached): {t_table:.2f} s")

    tables, t_fig = timed(lambda: run_vista(cfg, Quadratic(), "quad3d"))
    batch = args.runs * (1 + len(cfg.baselines))
    rows = len(tables["rounds"])
    print(f"quad3d figure: {1 + len(cfg.baselines)} methods x {args.runs} runs x {args.rounds} rounds "
          f"(B = {batch}) in {t_fig:.2f} s  [{rows / t_fig:,.0f} run-rounds/s; target < 30 s]")

    slice_runs, slice_rounds = 2, min(300, args.rounds)
    t_loop = per_run_loop(cfg, slice_runs, slice_rounds)
    scaled = t_loop * (args.runs / slice_runs) * (args.rounds / slice_rounds)
    print(f"per-run loop baseline: {t_loop:.2f} s for {slice_runs} runs x {slice_rounds} rounds per method, "
          f"scaled to the figure: {scaled:.1f} s -> batched is {scaled / t_fig:.1f}x faster")

    task, theta = Quadratic(), Quadratic().init(batch)
    reps = 2000
    _, t_grad = timed(lambda: [task.grad(theta) for _ in range(reps)])
    per_round = t_fig / args.rounds
    per_grad = t_grad / reps
    print(f"one round for the whole batch: {per_round * 1e3:.2f} ms; the gradient alone: {per_grad * 1e6:.1f} us "
          f"-> a protocol round costs {per_round / per_grad:,.0f}x the (trivial) quadratic gradient")


if __name__ == "__main__":
    main()
