"""Run directories: the resolved config beside long-format Parquet tables and PNG plots.

A run never mixes with an older one: the default directory is always new (runs/NAME-TIMESTAMP, with a suffix
on collision); an explicit `--out` must be new or empty, or an earlier run directory that `--force` clears
first (only the files deml writes: config.json, *.parquet, *.png, report.html). config.json carries the run's
status: "running" while it runs, then "complete" or "interrupted" (with how much was done).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from itertools import count
from pathlib import Path
from typing import Any

from sims.config import ConfigError
from sims.experiment import Tables

RUNS = Path("runs")
CONFIG = "config.json"


def is_run_file(path: Path) -> bool:
    return path.is_file() and (path.name in (CONFIG, "report.html") or path.suffix in (".parquet", ".png"))


def check(out: Path | None, *, force: bool = False) -> None:
    """Refuse (ConfigError) an --out that would mix with other files; changes nothing."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file is there; give a directory path that is new or empty")
    if out.is_dir() and any(out.iterdir()):
        if not (out / CONFIG).is_file():
            raise ConfigError(f"--out {out}: not empty and not a deml run directory; give a new or empty directory")
        if not force:
            raise ConfigError(f"--out {out}: holds an earlier run ({_experiment(out)}); give a new path, or "
                              f"--force to replace it")


def prepare(out: Path | None, experiment: str, *, force: bool = False) -> Path:
    """The directory a new run writes into, created now (and, with force, cleared of an earlier run's files);
    bad paths are refused (ConfigError) before anything is written."""
    if out is None:
        return _fresh(RUNS / f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}")
    check(out, force=force)
    if out.is_dir():
        for path in out.iterdir():
            if is_run_file(path):
                path.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create it ({exc.strerror}); give a writable directory path") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out {out}: not writable; give a writable directory path")
    return out


def _fresh(base: Path) -> Path:
    for i in count(1):
        path = base if i == 1 else base.with_name(f"{base.name}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create the run directory {path} ({exc.strerror}); give one with --out") from None
    raise AssertionError("unreachable")


def _experiment(out: Path) -> str:
    try:
        return json.loads((out / CONFIG).read_text()).get("experiment", "unknown experiment")
    except (OSError, ValueError):
        return "unreadable config.json"


def _git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_config(out: Path, experiment: str, config: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    doc = {"experiment": experiment, "config": config, "status": "running",
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "git": _git_revision(), "python": platform.python_version()}
    doc.update(extra or {})
    path = out / CONFIG
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def mark(out: Path, status: str, **fields: Any) -> None:
    """Record how the run ended in its config.json: status "complete" or "interrupted", plus e.g. rounds done."""
    path = out / CONFIG
    doc = json.loads(path.read_text())
    doc.update(status=status, **fields)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def write_tables(out: Path, tables: Tables) -> list[Path]:
    paths = []
    for name, frame in tables.items():
        path = out / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    return paths
