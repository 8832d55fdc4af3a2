"""Reading a run directory for analysis, with one clear line for each way it can be unusable."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sims.config import ConfigError

NODES = "nodes.parquet"
NODE_COLUMNS = {"method", "run", "round", "node", "address", "role", "committed", "revealed", "dist_farthest",
                "farthest_node", "dist_honest_mean", "tau", "eta", "accepted", "paid", "slashed", "gas"}


@dataclass(frozen=True)
class Run:
    """A finished (or interrupted) run: its config.json and the tables the analysis reads. `accounts` and `gas`
    only exist for chain-backed runs (the demo)."""

    path: Path
    doc: dict  # config.json
    rounds: pd.DataFrame
    nodes: pd.DataFrame
    accounts: pd.DataFrame | None
    gas: pd.DataFrame | None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def experiment(self) -> str:
        return self.doc.get("experiment", "unknown")

    @property
    def chain(self) -> bool:
        return self.accounts is not None

    @property
    def sweep(self) -> dict | None:
        """{"key": ..., "values": [...]} for a sweep, else None."""
        return self.doc.get("sweep")

    def configs(self) -> list[dict]:
        """One resolved config per sweep value (one for a plain run)."""
        return self.doc.get("configs") or [self.doc["config"]]


def _optional(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def load(path: Path) -> Run:
    """The run at `path`, or a ConfigError naming the argument and the fix."""
    if not path.exists():
        raise ConfigError(f"RUN_DIR {path}: no such directory; give a run directory written by `deml sim` or "
                          f"`deml demo` (see `deml runs`)")
    if not path.is_dir():
        raise ConfigError(f"RUN_DIR {path}: a file, not a directory; give a run directory written by `deml sim` "
                          f"or `deml demo`")
    if not (path / "config.json").is_file():
        raise ConfigError(f"RUN_DIR {path}: not a deml run directory (no config.json); give one written by "
                          f"`deml sim` or `deml demo`")
    try:
        doc = json.loads((path / "config.json").read_text())
    except ValueError:
        raise ConfigError(f"RUN_DIR {path}: config.json is not valid JSON; give an intact run directory") from None
    if not (path / NODES).is_file() or not (path / "rounds.parquet").is_file():
        raise ConfigError(f"RUN_DIR {path}: no {NODES} (experiment {doc.get('experiment', 'unknown')!r}); "
                          f"`deml analyse` reads runs of `deml sim quad3d|scalar1d` or `deml demo` made by this "
                          f"version: run it again")
    nodes = pd.read_parquet(path / NODES)
    missing = NODE_COLUMNS - set(nodes.columns)
    if missing:
        raise ConfigError(f"RUN_DIR {path}: its {NODES} lacks {', '.join(sorted(missing))} (an older version wrote "
                          f"it); run the experiment again")
    return Run(path, doc, pd.read_parquet(path / "rounds.parquet"), nodes, _optional(path / "accounts.parquet"),
               _optional(path / "gas.parquet"))
