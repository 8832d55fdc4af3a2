"""What a unit of learning progress costs: tokens paid to all nodes, and gas, per unit of loss decrease, per
method (progress = f at the first posted model - f at the last, summed over runs; ratios of sums, not means of
ratios, so that a run that barely moved does not dominate)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sims.analysis.load import Run


def per_run(run: Run) -> pd.DataFrame:
    """Per (sweep,) method and run: the first and last loss, the decrease, tokens paid to all nodes, gas."""
    r = run.rounds
    by = (["sweep"] if "sweep" in r.columns else []) + ["method", "run"]
    g = r.groupby(by, sort=False)
    out = g.agg(loss_first=("loss", "first"), loss_last=("loss", "last"), rounds=("round", "size"),
                tokens=("reward_honest", "sum"), adversary_tokens=("reward_adversary", "sum")).reset_index()
    out["tokens"] += out["adversary_tokens"]
    out["progress"] = out["loss_first"] - out["loss_last"]
    gas = run.nodes.groupby(by, observed=True, sort=False)["gas"].sum().reset_index()
    out = out.merge(gas.astype({"method": str}), on=by, how="left")
    if run.gas is not None and not run.gas.empty:  # a chain run: the DC pays the round transactions
        out["gas"] += int(run.gas["gas"].sum())
    return out


def per_method(run: Run) -> pd.DataFrame:
    """Per (sweep,) method: mean final loss, total progress, tokens and gas per unit of progress."""
    runs = per_run(run)
    by = (["sweep"] if "sweep" in runs.columns else []) + ["method"]
    g = runs.groupby(by, sort=False)
    out = g.agg(runs=("run", "size"), loss_last=("loss_last", "mean"), progress=("progress", "sum"),
                tokens=("tokens", "sum"), adversary_tokens=("adversary_tokens", "sum"), gas=("gas", "sum")).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["tokens_per_progress"] = np.where(out["progress"] > 0, out["tokens"] / out["progress"], np.nan)
        out["gas_per_progress"] = np.where(out["progress"] > 0, out["gas"] / out["progress"], np.nan)
    out.insert(0, "source", run.name)
    return out
