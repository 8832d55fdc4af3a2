"""Speed of `deml analyse`. Prints figures; asserts nothing about time.

1. The size of nodes.parquet of a quad3d run of VISTA + 6 constant-eta baselines x 20 runs x 3000 rounds
   (2 nodes: 840,000 node rows), and the time to analyse it (goal: under 10 s here), against a baseline measured
   in the same run: reading its Parquet tables alone. End to end through the command line too (imports included).
2. Scaling, by measurement: the analysis of single-run quad3d runs of N nodes (1 honest + N - 1 adversaries)
   x T rounds at several sizes, a least-squares line in the node rows N x T, and what that line gives for a
   100-node, 10,000-round run (one row per node and round; the contract admits at most 64 members to a round,
   and the in-memory engine runs at most 32 nodes with its default windows, so 100 nodes is reached only by
   extrapolation).

    python bench/bench_analyse.py [--run DIR]   # DIR: an existing 20 x 3000 quad3d run directory to reuse
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sims.analysis.analyse import analyse
from sims.runner import run_experiment

# (nodes, rounds) of the scaling runs; at most 32 nodes: beyond that MemoryLedger's reveals outlast the default
# 32-block reveal window ("reveal window closed" at 64 nodes)
SIZES = [(8, 1000), (32, 1000), (32, 2000), (32, 3000)]
TARGET = (100, 10_000)


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def read_tables(run: Path) -> None:
    for name in ("rounds", "nodes"):
        pd.read_parquet(run / f"{name}.parquet")


def analysis_time(run: Path, scratch: Path, repeat: int = 3) -> float:
    count = iter(range(10**6))
    analyse([run], scratch / f"a{next(count)}-{run.name}", 1.0)  # warm: the equilibrium table is solved once
    return best_of(lambda: analyse([run], scratch / f"a{next(count)}-{run.name}", 1.0), repeat)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, help="an existing 20 x 3000-round quad3d run directory")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-analyse-"))
    big = args.run
    if big is None:
        t0 = time.perf_counter()
        big = run_experiment("quad3d", {"runs": 20, "rounds": 3000}, scratch / "quad3d-20x3000")
        print(f"made the 20 x 3000 quad3d run in {time.perf_counter() - t0:.1f} s")
    nodes = pd.read_parquet(big / "nodes.parquet")
    size = (big / "nodes.parquet").stat().st_size
    print(f"nodes.parquet: {len(nodes):,} rows, {size / 1e6:.2f} MB on disk ({size / len(nodes):.1f} bytes a row), "
          f"{nodes.memory_usage(deep=True).sum() / 1e6:.1f} MB in memory; rounds.parquet "
          f"{(big / 'rounds.parquet').stat().st_size / 1e6:.2f} MB")
    base = best_of(lambda: read_tables(big))
    t = analysis_time(big, scratch)
    print(f"baseline, reading rounds.parquet + nodes.parquet: {base:.2f} s")
    print(f"deml analyse (in process, table cached): {t:.2f} s = {t / base:.1f} x the baseline")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sims.cli", "analyse", str(big), "--out", str(scratch / "cli")], check=True,
                   capture_output=True)
    print(f"deml analyse end to end (a fresh process, imports included): {time.perf_counter() - t0:.2f} s")

    rows, times = [], []
    for n, rounds in SIZES:
        run = run_experiment("quad3d", {"runs": 1, "rounds": rounds, "adversaries": n - 1, "baselines": []},
                             scratch / f"n{n}-t{rounds}")
        rows.append(n * rounds)
        times.append(analysis_time(run, scratch, repeat=2))
        print(f"  {n:3d} nodes x {rounds:5d} rounds = {rows[-1]:7,d} node rows: {times[-1]:.2f} s")
    slope, intercept = np.polyfit(rows, times, 1)
    want = TARGET[0] * TARGET[1]
    print(f"fit: {intercept:.2f} s + {slope * 1e6:.2f} s per million node rows")
    print(f"extrapolated: {TARGET[0]} nodes x {TARGET[1]:,} rounds ({want:,} node rows, one run of one method): "
          f"{intercept + slope * want:.1f} s; the same for 20 runs x 7 methods ({140 * want:,} rows): "
          f"{intercept + slope * 140 * want:.0f} s, and about {140 * want * nodes.memory_usage(deep=True).sum() / len(nodes) / 1e9:.1f} "
          f"GB of node table in memory")
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
