"""What a named experiment is: a cheap catalogue entry (name, description, config model) and its
implementation (run, plots, summary), imported only when it runs, so listing experiments loads no engine."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

from sims.config import ExperimentConfig

if TYPE_CHECKING:
    import pandas as pd

Tables = dict[str, "pd.DataFrame"]  # e.g. {"rounds": ..., "summary": ...}, long format


class Interrupted(Exception):
    """Ctrl-C inside a run: the tables of the work that finished, how much that was (for config.json, e.g.
    {"rounds": 37, "of": 3000}) and the same in words ("37 of 3000 rounds")."""

    def __init__(self, tables: Tables, done: dict, text: str):
        super().__init__(text)
        self.tables, self.done, self.text = tables, done, text


class RunInterrupted(Exception):
    """A run was interrupted and its finished work written; the message says how far it got and where."""

    def __init__(self, out: Path, message: str):
        super().__init__(message)
        self.out = out


@dataclass(frozen=True)
class Implementation:
    run: Callable[[ExperimentConfig], Tables]  # pure of the config; on Ctrl-C raises Interrupted
    plot: Callable[[Tables, Path], list[Path]]  # PNGs written into the run directory
    summary: Callable[[Tables], "pd.DataFrame"]  # a few rows (per method): the figures printed at the end
    sweep_plot: Callable[[Tables, str, Path], list[Path]] | None = None  # tables carry a `sweep` column
    check: Callable[[ExperimentConfig], None] | None = None  # before anything is written: raise ConfigError
    warnings: Callable[[Tables, ExperimentConfig], list[str]] | None = None  # lines printed after the summary
    about: Callable[[ExperimentConfig], dict] | None = None  # more for config.json (e.g. the objective and f*)


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config: type[ExperimentConfig]
    implementation: Union[str, Implementation]  # "module:ATTRIBUTE", imported on first use, or the object

    def load(self) -> Implementation:
        if isinstance(self.implementation, Implementation):
            return self.implementation
        module, _, attribute = self.implementation.partition(":")
        return getattr(import_module(module), attribute)
