"""Run directories: the resolved config beside long-format Parquet tables and PNG plots."""
from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from sims.experiment import Tables


def default_out(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_config(out: Path, experiment: str, config: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"experiment": experiment, "config": config, "git": _git_revision(), "python": platform.python_version()}
    doc.update(extra or {})
    path = out / "config.json"
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def write_tables(out: Path, tables: Tables) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = out / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    return paths
