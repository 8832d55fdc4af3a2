"""`deml runs`: the run directories in a folder, from their config.json and tables.

Key figures come from the standard tables: summary.parquet (VISTA: final f - f* per method; FAR-SIGN on MNIST:
best accuracy per method), fits.parquet (FAR-SIGN rates: fitted slopes), or, for runs older than summary
tables, rounds.parquet (final loss per method).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from sims.config import ConfigError
from sims.rundir import CONFIG


@dataclass(frozen=True)
class PastRun:
    path: Path
    started: str
    experiment: str
    status: str
    figures: str


def read_run(path: Path) -> PastRun:
    try:
        doc = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError) as exc:
        return PastRun(path, "", "?", f"unreadable config.json ({exc})", "")
    started = doc.get("started") or datetime.fromtimestamp((path / CONFIG).stat().st_mtime).strftime(
        "%Y-%m-%d %H:%M:%S")
    status = doc.get("status", "complete" if any(path.glob("*.parquet")) else "no results")
    if status == "running":
        status = "running or failed"
    elif status == "interrupted" and isinstance(doc.get("done"), dict) and "of" in doc["done"]:
        unit = next((k for k in doc["done"] if k not in ("of", "then")), "")
        status = f"interrupted ({doc['done'][unit]}/{doc['done']['of']} {unit})"
    return PastRun(path, started, doc.get("experiment", "?"), status, key_figures(path))


def key_figures(path: Path) -> str:
    """A line of the run's headline numbers, or "" when it wrote no tables."""
    summary, fits, rounds = (path / "summary.parquet", path / "fits.parquet", path / "rounds.parquet")
    if summary.exists():
        s = pd.read_parquet(summary)
        if "final_gap" in s.columns:
            line = _per_method(s, "final_gap", "f - f*")
            diverging = s.loc[s["diverging"], "method"].unique() if "diverging" in s.columns else []
            return line + (f"; DIVERGING: {', '.join(diverging)}" if len(diverging) else "")
        if "best_acc" in s.columns:
            return _per_method(s, "best_acc", "best accuracy")
    if fits.exists():
        f = pd.read_parquet(fits)
        return "slope: " + ", ".join(f"{r.objective} {r.variant} {r.slope:.3f} (ref {r.reference:.3f})"
                                     for r in f.itertuples())
    if rounds.exists():
        r = pd.read_parquet(rounds, columns=None)
        if {"method", "round", "loss"} <= set(r.columns):
            last = r[r["round"] == r["round"].max()]
            return _per_method(last.rename(columns={"loss": "final_loss"}), "final_loss", "final loss")
    return ""


def _per_method(frame: pd.DataFrame, column: str, label: str) -> str:
    means = frame.groupby("method", sort=False)[column].mean()
    return f"{label}: " + ", ".join(f"{m} {v:.3g}" for m, v in means.items())


def show_runs(folder: Path) -> None:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder; give the folder that holds run directories (default runs)")
    found = sorted((read_run(p) for p in folder.iterdir() if (p / CONFIG).is_file()), key=lambda r: r.started)
    if not found:
        Console().print(f"no run directories in {folder}")
        return
    table = Table(title=f"runs in {folder}", title_justify="left")
    for col in ("run", "started", "experiment", "status"):
        table.add_column(col, no_wrap=col != "status")
    table.add_column("key figures", overflow="fold", ratio=1)
    for r in found:
        table.add_row(r.path.name, r.started, r.experiment, r.status, r.figures)
    Console().print(table)
