"""Named experiments. Lookup is validated: an unknown name lists the known ones."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from sims.config import ExperimentConfig

Tables = dict[str, pd.DataFrame]  # e.g. {"rounds": ..., "evals": ...}, long format


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config: type[ExperimentConfig]
    run: Callable[[ExperimentConfig], Tables]  # pure of the config: same config, same tables
    plot: Callable[[Tables, Path], list[Path]]  # PNGs written into the run directory
    sweep_plot: Callable[[Tables, str, Path], list[Path]] | None = None  # tables carry a `sweep` column


_EXPERIMENTS: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    if exp.name in _EXPERIMENTS:
        raise ValueError(f"experiment {exp.name!r} is registered twice")
    _EXPERIMENTS[exp.name] = exp
    return exp


def _load_all() -> None:
    # importing the modules registers their experiments
    import sims.farsign_experiments  # noqa: F401
    import sims.vista_experiments  # noqa: F401


def get(name: str) -> Experiment:
    _load_all()
    if name not in _EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(sorted(_EXPERIMENTS))}")
    return _EXPERIMENTS[name]


def all_experiments() -> list[Experiment]:
    _load_all()
    return [_EXPERIMENTS[k] for k in sorted(_EXPERIMENTS)]
