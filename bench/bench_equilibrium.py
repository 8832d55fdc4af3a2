"""Time to solve an equilibrium table on a 121-point eta grid, cold and from the cache.

    python bench/bench_equilibrium.py            (from the repository root)
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from economics import GameSpec, solve

GRID = np.linspace(1.5, 8.0, 121)
CASES = [GameSpec(dim=1), GameSpec(dim=3), GameSpec(dim=61_706), GameSpec(dim=61_706, kappa=0.003)]


def timed(spec: GameSpec, cache: Path) -> float:
    start = time.perf_counter()
    solve(spec, GRID, cache_dir=cache, progress=False)
    return time.perf_counter() - start


def main() -> None:
    print(f"eta grid: {GRID.size} points in [{GRID[0]}, {GRID[-1]}]")
    print(f"{'dim':>8} {'kappa':>6} {'cold s':>8} {'cached s':>9}")
    with tempfile.TemporaryDirectory() as cache:
        for spec in CASES:
            cold, cached = timed(spec, Path(cache)), timed(spec, Path(cache))
            print(f"{spec.dim:>8} {spec.kappa:>6} {cold:>8.2f} {cached:>9.4f}")


if __name__ == "__main__":
    main()
