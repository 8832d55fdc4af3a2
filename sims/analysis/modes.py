"""What each mode of the protocol pays per unit of progress: a round-based swarm (`deml swarm run` with a learning
workload) and a FAR-SIGN swarm on the report board (`deml swarm run --mode farsign`) in the same units.

- progress: the test loss of the first evaluated model minus that of the last (evals.parquet: both modes evaluate
  the models the chain's events name on the same fixed test subset), so that a round's reference loss and an
  asynchronous server's versions are measured alike;
- tokens: what the nodes were paid in all (a round's reward to every revealer of an accepted round; a board's fee
  per accepted report), and per node of each side (honest, adversarial);
- gas: every transaction of the run, the nodes' and the data collector's (a round's open, seed, settle, confirm;
  a board's publishes), so that a mode which moves work to the DC is not flattered.
Ratios of totals, as in progress.py. A run without evals.parquet (a synthetic objective) has no test loss and is
left out of this table.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sims.analysis.load import Run
from sims.config import ConfigError

FARSIGN = "swarm-farsign"  # the experiment name a FAR-SIGN swarm's run directory carries
HONEST_ROLES = ("honest", "fo", "zo")  # the board's honest workers are first- or zeroth-order


def is_board(path: Path) -> bool:
    """Whether `path` holds a FAR-SIGN swarm's run directory (anything unreadable is left to `load` to refuse)."""
    try:
        return json.loads((path / "config.json").read_text()).get("experiment") == FARSIGN
    except (OSError, ValueError):
        return False


def _progress(evals: pd.DataFrame) -> dict:
    first, last = evals.iloc[0], evals.iloc[-1]
    return {"test_loss_first": float(first["test_loss"]), "test_loss_last": float(last["test_loss"]),
            "progress": float(first["test_loss"] - last["test_loss"]), "best_acc": float(evals["test_acc"].max())}


def _ratios(row: dict) -> dict:
    good = row["progress"] > 0
    return {**row, "tokens_per_progress": row["tokens"] / row["progress"] if good else np.nan,
            "gas_per_progress": row["gas"] / row["progress"] if good else np.nan,
            "tokens_per_report": row["tokens"] / row["reports_paid"] if row["reports_paid"] else np.nan,
            "gas_per_report": row["gas"] / row["reports_paid"] if row["reports_paid"] else np.nan}


def _sides(per_node: pd.Series, honest: pd.Series) -> dict:
    """Tokens per node of each side; NaN for a side with no node."""
    mean = lambda s: float(s.mean()) if len(s) else np.nan  # noqa: E731
    return {"nodes": len(per_node), "adversaries": int((~honest).sum()),
            "tokens_per_honest_node": mean(per_node[honest.to_numpy()]),
            "tokens_per_adversarial_node": mean(per_node[~honest.to_numpy()])}


def rounds_row(run: Run) -> dict | None:
    """The modes row of a round-based chain run with evaluations (None otherwise)."""
    evals_path = run.path / "evals.parquet"
    if not evals_path.is_file() or run.gas is None:
        return None
    n = run.nodes
    per_node = n.groupby("node", sort=True)["paid"].sum()
    honest = n.groupby("node", sort=True)["role"].first().astype(str) == "honest"
    cfg = run.doc.get("config", {})
    workload = f"{cfg['dataset']}-{cfg['model']}" if "model" in cfg else run.experiment
    row = {"source": run.name, "mode": "rounds", "workload": workload,
           "attack": run.doc.get("attack", ""), **_sides(per_node, honest), "reports_paid": int((n["paid"] > 0).sum()),
           "tokens": float(per_node.sum()), "gas": int(run.gas["gas"].sum()),
           "duration": f"{int(n['round'].max())} rounds", **_progress(pd.read_parquet(evals_path))}
    return _ratios(row)


def board_row(path: Path) -> tuple[dict, pd.DataFrame]:
    """The modes row of a FAR-SIGN swarm's run directory, and its per-role table."""
    doc = json.loads((path / "config.json").read_text())
    need = ("nodes.parquet", "evals.parquet", "summary.parquet")
    missing = [f for f in need if not (path / f).is_file()]
    if missing:
        raise ConfigError(f"RUN_DIR {path}: a FAR-SIGN swarm without {', '.join(missing)} (interrupted before any "
                          f"version was published?); give a finished run")
    nodes, evals = pd.read_parquet(path / "nodes.parquet"), pd.read_parquet(path / "evals.parquet")
    summary = pd.read_parquet(path / "summary.parquet").iloc[0]
    honest = nodes["role"].isin(HONEST_ROLES)
    dc_gas = int(summary["dc_gas"]) if "dc_gas" in summary and pd.notna(summary["dc_gas"]) else 0
    row = {"source": path.name, "mode": "farsign", "workload": doc.get("workload", ""), "attack": doc.get("attack", ""),
           **_sides(nodes["tokens_earned"], honest), "reports_paid": int(nodes["accepted"].sum()),
           "tokens": float(nodes["tokens_earned"].sum()), "gas": int(nodes["gas_paid"].sum()) + dc_gas,
           "duration": f"{int(summary['reports'])} reports", **_progress(evals)}
    roles = nodes.assign(side=np.where(honest, "honest", "adversarial")).groupby(["role", "side"], sort=False).agg(
        nodes=("address", "count"), accepted=("accepted", "sum"), refused=("refused", "sum"),
        tokens=("tokens_earned", "sum"), gas=("gas_paid", "sum")).reset_index()
    roles["tokens_per_node"] = roles["tokens"] / roles["nodes"]
    roles.insert(0, "source", path.name)
    return _ratios(row), roles
