"""Run a named experiment (or a one-key sweep of it) into a run directory.

Order: resolve and check every config, then create the run directory (so bad input writes nothing), write
config.json, run, write the tables and plots, print a short summary. Ctrl-C keeps what finished: its tables,
the plots, config.json marked interrupted; then `RunInterrupted` says where it is.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from sims import registry, rundir
from sims.config import ConfigError, ExperimentConfig, parse_value, resolve
from sims.experiment import Experiment, Implementation, Interrupted, RunInterrupted, Tables

console = Console(stderr=True)


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    key, sep, values = text.partition("=")
    if not sep or not key or not values:
        raise ConfigError(f"--sweep {text!r}: expected key=v1,v2,..., e.g. --sweep lam=0.1,0.3,1")
    return key.strip(), [parse_value(v.strip()) for v in values.split(",")]


def run_experiment(name: str, overrides: dict[str, Any], out: Path | None = None, sweep: str | None = None, *,
                   force: bool = False) -> Path:
    return run(registry.get(name), overrides, out, sweep, force=force)


def run(exp: Experiment, overrides: dict[str, Any], out: Path | None = None, sweep: str | None = None, *,
        force: bool = False) -> Path:
    impl = exp.load()
    if sweep is None:
        key, values, configs = None, [None], [resolve(exp.config, overrides)]
    else:
        if impl.sweep_plot is None:
            raise ConfigError(f"--sweep: experiment {exp.name!r} has no sweep plot; run it once per value instead")
        key, values = parse_sweep(sweep)
        configs = [resolve(exp.config, {**overrides, key: v}) for v in values]
    for cfg in configs:
        if impl.check is not None:
            impl.check(cfg)
    out = rundir.prepare(out, exp.name, force=force)
    extra = impl.about(configs[0]) if impl.about is not None else {}
    if key is not None:
        extra.update(sweep={"key": key, "values": values}, configs=[c.model_dump() for c in configs])
    rundir.write_config(out, exp.name, configs[0].model_dump(), extra)
    t0 = time.perf_counter()
    try:
        tables = _run_all(exp.name, impl, configs, key, values, out)
    except Interrupted as stop:
        _finish(impl, stop.tables, key, out)
        rundir.mark(out, "interrupted", interrupted=True, done=stop.done, wall_s=round(time.perf_counter() - t0, 1))
        raise RunInterrupted(out, f"{exp.name}: interrupted after {stop.text}; the finished work is in {out}/ "
                                  f"(config.json marks it interrupted)") from None
    _finish(impl, tables, key, out)
    rundir.mark(out, "complete", wall_s=round(time.perf_counter() - t0, 1))
    for value, cfg in zip(values, configs):
        part = tables if key is None else {k: v[v["sweep"] == value] for k, v in tables.items()}
        show_summary(impl.summary(part), exp.name if key is None else f"{exp.name}, {key}={value}")
        for line in impl.warnings(part, cfg) if impl.warnings else []:
            console.print(f"[yellow]warning:[/] {line}", soft_wrap=True)
    console.print(f"{exp.name}: {time.perf_counter() - t0:.1f} s; wrote {out}/ "
                  f"({', '.join(sorted(p.name for p in out.iterdir()))})")
    return out


def _run_all(name: str, impl: Implementation, configs: list[ExperimentConfig], key: str | None, values: list,
             out: Path) -> Tables:
    """One run, or one per swept value with the tables written after each (a later failure loses none)."""
    if key is None:
        return impl.run(configs[0])
    parts: dict[str, list[pd.DataFrame]] = {}
    tables: Tables = {}
    for i, (value, cfg) in enumerate(zip(values, configs)):
        console.print(f"[bold]{name}[/] {key}={value}")
        try:
            new = impl.run(cfg)
        except Interrupted as stop:
            for table, frame in stop.tables.items():
                parts.setdefault(table, []).append(frame.assign(sweep=value))
            raise Interrupted({k: pd.concat(v, ignore_index=True) for k, v in parts.items()},
                              {"sweep_values": i, "of": len(values), "then": {key: value, **stop.done}},
                              f"{i} of {len(values)} values of {key}, then {stop.text} at {key}={value}") from None
        for table, frame in new.items():
            parts.setdefault(table, []).append(frame.assign(sweep=value))
        tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
        rundir.write_tables(out, tables)
    return tables


def _finish(impl: Implementation, tables: Tables, key: str | None, out: Path) -> None:
    """Tables and plots of whatever finished (nothing to plot when no round did)."""
    if not tables:
        return
    rundir.write_tables(out, tables)
    if key is None:
        impl.plot(tables, out)
    else:
        impl.sweep_plot(tables, key, out)


def show_summary(frame: pd.DataFrame, title: str) -> None:
    """A small table of the run's figures, on stdout."""
    table = Table(title=f"{title}: results", title_justify="left")
    table.add_column(frame.index.name or "", justify="left")
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for label, row in frame.iterrows():
        table.add_row(str(label), *(_cell(v) for v in row))
    Console().print(table)


def _cell(v) -> str:
    if isinstance(v, float):
        return "-" if v != v else f"{v:.4g}"
    return str(v)
