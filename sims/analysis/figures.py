"""The analysis' PNGs: tokens per node, the realised play against the solver, cost per unit of progress, and
for sweeps each figure against the swept key."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sims.analysis.play import MIN_ROUNDS

RARE = 20  # etas visited fewer times are left out of the play figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _plt().close(fig)
    return path


def tokens_per_node(nodes: pd.DataFrame, path: Path, title: str) -> Path:
    """Net tokens per node per run (mean over runs), one bar per node and method, coloured by role."""
    plt = _plt()
    by = (["sweep"] if "sweep" in nodes.columns else []) + ["method", "node", "role"]
    g = nodes.groupby(by, observed=True, sort=False)["net_tokens"].mean().reset_index()
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(g) + 2), 4))
    colours = np.where(g["role"].astype(str) == "adversary", "tab:red", "tab:blue")
    ax.bar(np.arange(len(g)), g["net_tokens"], color=colours)
    swept = [f"{v} " for v in g["sweep"]] if "sweep" in g.columns else [""] * len(g)
    ax.set_xticks(np.arange(len(g)), [f"{s}{m} n{n}" for s, m, n in zip(swept, g["method"], g["node"])],
                  rotation=70, fontsize=7)
    ax.set_ylabel("net tokens per node per run (earned - slashed)")
    ax.set_title(f"{title}: blue honest, red adversary")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def play_curves(play: pd.DataFrame, path: Path, title: str) -> Path:
    """Realised P_A and MSE per eta (with their intervals; hollow: visited too rarely to judge) against the
    solver's P_A*(eta) and MSE*(eta)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (col, lo, hi, star, label) in zip(axes, (("p_accept", "p_lo", "p_hi", "p_star", "P_A"),
                                                      ("mse", "mse_lo", "mse_hi", "mse_star", "MSE"))):
        order = play.sort_values("eta")
        ax.plot(order["eta"], order[star], color="black", lw=1.2, label=f"solver {label}*(eta)")
        judged = order[order["judged"]]
        err = np.vstack([judged[col] - judged[lo], judged[hi] - judged[col]])
        ax.errorbar(judged["eta"], judged[col], yerr=np.nan_to_num(err), fmt="o", color="tab:red", ms=4, capsize=2,
                    lw=0.8, label="realised (judged)")
        rare = order[~order["judged"] & (order["rounds"] >= RARE)]  # bars this wide would hide the curve
        ax.plot(rare["eta"], rare[col], "o", mfc="none", color="tab:gray", ms=3, alpha=0.6,
                label=f"realised, {RARE} to {MIN_ROUNDS - 1} rounds (not judged)")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("announced eta")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: adversary's realised play vs equilibrium (99% intervals)", fontsize=10)
    return _save(fig, path)


def cost_of_progress(methods: pd.DataFrame, path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(methods["method"].astype(str), methods["tokens_per_progress"], color="tab:green")
    ax.set_ylabel("tokens paid per unit of loss decrease")
    ax.set_title(f"{title}: cost of progress")
    ax.grid(alpha=0.3, axis="y")
    plt.setp(ax.get_xticklabels(), rotation=30)
    return _save(fig, path)


def against_key(frame: pd.DataFrame, value: str, key: str, path: Path, ylabel: str, logy: bool = False) -> Path:
    """`value` per method against the swept key (its values in the sweep's order, as categories when they are
    not numbers)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    levels = list(dict.fromkeys(frame["sweep"]))
    numeric = all(isinstance(v, (int, float)) for v in levels)
    for method, sub in frame.groupby("method", sort=False):
        x = sub["sweep"] if numeric else sub["sweep"].map({v: i for i, v in enumerate(levels)})
        ax.plot(x, sub[value], "o-", ms=4, label=str(method))
    if not numeric:
        ax.set_xticks(range(len(levels)), [str(v) for v in levels])
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} across {key}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
