"""What a named experiment is: its config model, a pure run function, and its plots."""
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
