"""Run a named experiment (or a one-key sweep of it) into a run directory."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from sims import registry, rundir
from sims.config import ConfigError, parse_value, resolve

console = Console(stderr=True)


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    key, sep, values = text.partition("=")
    if not sep or not key or not values:
        raise ConfigError(f"--sweep {text!r}: expected key=v1,v2,..., e.g. --sweep lam=0.1,0.3,1")
    return key.strip(), [parse_value(v.strip()) for v in values.split(",")]


def run_experiment(name: str, overrides: dict[str, Any], out: Path | None = None,
                   sweep: str | None = None) -> Path:
    exp = registry.get(name)
    out = out or rundir.default_out(name)
    t0 = time.perf_counter()
    if sweep is None:
        cfg = resolve(exp.config, overrides)
        rundir.write_config(out, name, cfg.model_dump())  # first, so a crashed run still says what it was
        tables = exp.run(cfg)
        rundir.write_tables(out, tables)
        exp.plot(tables, out)
    else:
        if exp.sweep_plot is None:
            raise ConfigError(f"--sweep: experiment {name!r} has no sweep plot; run it once per value instead")
        key, values = parse_sweep(sweep)
        configs = [resolve(exp.config, {**overrides, key: v}) for v in values]  # validate all before running
        rundir.write_config(out, name, configs[0].model_dump(), {"sweep": {"key": key, "values": values},
                                                                  "configs": [c.model_dump() for c in configs]})
        parts: dict[str, list[pd.DataFrame]] = {}
        for value, cfg in zip(values, configs):
            console.print(f"[bold]{name}[/] {key}={value}")
            for table, frame in exp.run(cfg).items():
                parts.setdefault(table, []).append(frame.assign(sweep=value))
            tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
            rundir.write_tables(out, tables)  # after every value, so a later failure loses none of them
        exp.sweep_plot(tables, key, out)
    console.print(f"{name}: {time.perf_counter() - t0:.1f} s; wrote {out}/ "
                  f"({', '.join(sorted(p.name for p in out.iterdir()))})")
    return out
