"""`learning-adversary`: an adversary that learns its noise law from what it observes (nodes/learning.py) against
the solver's equilibrium adversary, under VISTA and the constant-eta baselines, on any named objective (quad3d's
by default).

Two batches through the shared round driver over a MemoryLedger, alike in everything (seed, methods, runs)
but the adversary's strategy: `learning` and `equilibrium`. Tables:
- rounds: the VISTA tables' rows with `adversary` and, for the learner, `rho` (its radius / (tau + Delta));
- play: per adversary and announced eta, over the last `tail` of the rounds, the realised acceptance rate
  (Wilson 95% interval) and MSE of the accepted estimates (t 95% interval) beside the solver's P_A*(eta) and
  MSE*(eta): does the learner's play converge to the equilibrium;
- summary: per adversary and method, final f - f*, acceptance, tokens to the adversaries.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from coordinator.memory_ledger import MemoryLedger  # noqa: E402
from economics.equilibrium import EquilibriumTable  # noqa: E402
from economics.utility import LogUtility, ProductUtility  # noqa: E402
from nodes.learning import LearnerParams, LearningAdversary  # noqa: E402
from nodes.swarm import node_addresses  # noqa: E402
from sims.experiment import Implementation, Interrupted, Tables  # noqa: E402
from sims.objectives import Objective  # noqa: E402
from sims.plots import band_plot, finish  # noqa: E402
from sims.vista_config import LearningConfig  # noqa: E402
from sims.vista_experiments import Record, VistaSetup, play, setup, vista_tables  # noqa: E402

Z95 = 1.959963984540054


def wilson(successes: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval of a binomial rate: (lo, hi)."""
    n = np.asarray(n, dtype=float)
    p = np.asarray(successes, dtype=float) / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def batch(cfg: LearningConfig, task: Objective, s: VistaSetup, adversary: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One batch (every method x run) against `adversary`; (rounds, summary). Ctrl-C raises Interrupted."""
    learner = None
    if adversary == "learning":
        params = LearnerParams(delta=cfg.delta, etas=len(s.table.eta), arms=cfg.arms, kappa=cfg.kappa,
                               utility=cfg.utility, explore=cfg.explore)
        learner = LearningAdversary.start(params, s.control.batch)
        s = replace(s, swarm=replace(s.swarm, adversary_strategy=learner))
    record, rho = Record([], []), []

    def observe(log, outcome) -> None:
        if learner is not None:
            rho.append(learner.observe(log.accepted, log.estimate_error))
        bar.advance(job)

    ledger = MemoryLedger(batch=s.control.batch, min_stake=s.proto.min_stake, slash_bps=s.proto.slash_bps)
    try:
        with Progress(console=Console(stderr=True), transient=True) as bar:
            job = bar.add_task(f"learning-adversary: {adversary}", total=cfg.rounds)
            play(ledger, node_addresses(s.swarm.size, cfg.seed), task, s, cfg.rounds, cfg.seed, record, observe)
    except KeyboardInterrupt:
        tables = tagged(vista_tables(record, s, cfg.runs, "learning-adversary", task), adversary, rho) \
            if record.logs else {}
        raise Interrupted(tables, {"rounds": len(record.logs), "of": cfg.rounds, "adversary": adversary},
                          f"{len(record.logs)} of {cfg.rounds} rounds against the {adversary} adversary") from None
    out = tagged(vista_tables(record, s, cfg.runs, "learning-adversary", task), adversary, rho)
    return out["rounds"], out["summary"]


def tagged(tables: Tables, adversary: str, rho: list[np.ndarray]) -> Tables:
    rounds = tables["rounds"].assign(adversary=adversary)
    rounds["rho"] = np.concatenate(rho) if rho else np.nan  # round-major, as the rounds frame
    return {"rounds": rounds, "summary": tables["summary"].assign(adversary=adversary)}


def play_table(rounds: pd.DataFrame, table: EquilibriumTable, tail: float, min_rounds: int) -> pd.DataFrame:
    """Per adversary and announced eta, over the last `tail` of the rounds: realised P_A and MSE with 95%
    intervals, against the solver's, and the adversary's utility of both (the equilibrium's is the most any law
    can get). Etas visited fewer than `min_rounds` times are left out."""
    last = rounds[rounds["round"] > rounds["round"].max() * (1 - tail)]
    spec = table.spec
    value = LogUtility(spec.kappa) if spec.utility == "log" else ProductUtility(spec.kappa)
    rows = []
    for (adversary, eta), g in last.groupby(["adversary", "eta"]):
        n, k = len(g), int(g["accepted"].sum())
        if n < min_rounds:
            continue
        err2 = g.loc[g["accepted"], "estimate_error"].to_numpy() ** 2
        lo, hi = wilson(np.array(k), np.array(n))
        mse = err2.mean() if k else np.nan
        half = Z95 * err2.std(ddof=1) / np.sqrt(k) if k > 1 else np.nan
        at = int(np.abs(table.eta - eta).argmin())
        rows.append({"adversary": adversary, "eta": eta, "rounds": n, "p_accept": k / n, "p_lo": float(lo),
                     "p_hi": float(hi), "p_star": table.p_accept[at], "mse": mse, "mse_lo": mse - half,
                     "mse_hi": mse + half, "mse_star": table.mse[at],
                     "utility": float(value(mse, k / n)), "utility_star": float(value(table.mse[at], table.p_accept[at])),
                     "rho": g["rho"].mean(), "rho_star": rho_star(table)[at]})
    return pd.DataFrame(rows)


def rho_star(table: EquilibriumTable) -> np.ndarray:
    """[G] the equilibrium law's mean radius in the learner's units, radius / (tau + Delta)."""
    return (table.radii * table.weights).sum(axis=1) / (table.tau + table.spec.delta)


def run_learning(cfg: LearningConfig) -> Tables:
    task = cfg.task()
    s = setup(cfg, task.dim)
    done: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    try:
        for adversary in ("learning", "equilibrium"):
            done.append(tuple(batch(cfg, task, s, adversary)))
    except Interrupted as stop:
        if stop.tables:
            done.append((stop.tables["rounds"], stop.tables["summary"]))
        raise Interrupted(tables(done, s.table, cfg) if done else {}, stop.done, stop.text) from None
    return tables(done, s.table, cfg)


def tables(done: list[tuple[pd.DataFrame, pd.DataFrame]], table: EquilibriumTable, cfg: LearningConfig) -> Tables:
    rounds = pd.concat([r for r, _ in done], ignore_index=True)
    summary = pd.concat([s for _, s in done], ignore_index=True)
    return {"rounds": rounds, "summary": summary, "play": play_table(rounds, table, cfg.tail, cfg.min_rounds),
            "equilibrium": table.to_frame().assign(rho_star=rho_star(table))}


def summarise(tables: Tables) -> pd.DataFrame:
    """Per adversary and method, means over runs: final f - f*, acceptance, tokens to the adversaries."""
    g = tables["summary"].groupby(["adversary", "method"], sort=False)
    return pd.DataFrame({"f - f*": g["final_gap"].mean(), "accepted": g["acceptance"].mean(),
                         "tokens adv.": g["tokens_adversary"].mean(), "diverging": g["diverging"].sum().astype(int)})


def plot_play(play: pd.DataFrame, path: Path) -> Path:
    """Realised P_A and MSE per eta with 95% intervals, each adversary, against the solver's curves."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    eq = play.drop_duplicates("eta").sort_values("eta")
    for ax, (col, star, label) in zip(axes, [("p_accept", "p_star", "acceptance P_A"), ("mse", "mse_star",
                                                                                         "MSE of accepted estimates"),
                                             ("rho", "rho_star", "mean radius / (tau + Delta)")]):
        ax.plot(eq["eta"], eq[star], "k--", lw=1, label="solver's equilibrium")
        for k, (adversary, g) in enumerate(play.groupby("adversary")):
            g = g.sort_values("eta")
            x = g["eta"] + (k - 0.5) * 0.04  # side by side
            if col == "rho":
                ax.plot(x, g[col], "o", label=adversary)
            else:
                ax.errorbar(x, g[col], yerr=[g[col] - g[col.split("_")[0] + "_lo"], g[col.split("_")[0] + "_hi"] - g[col]],
                            fmt="o", capsize=3, label=adversary)
        ax.set_xlabel("announced eta")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_rho(rounds: pd.DataFrame, equilibrium: pd.DataFrame, path: Path) -> Path:
    """The learner's radius over rounds under each constant eta, against the equilibrium's."""
    learn = rounds[(rounds["adversary"] == "learning") & rounds["method"].str.startswith("eta=")]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    window = max(1, int(rounds["round"].max()) // 50)
    for method, g in learn.groupby("method", sort=False):
        mid = g.groupby("round")["rho"].mean().rolling(window, min_periods=1).mean()
        (line,) = ax.plot(mid.index, mid, label=method, lw=1)
        eta = float(method.split("=")[1])
        star = equilibrium["rho_star"].to_numpy()[np.abs(equilibrium["eta"].to_numpy() - eta).argmin()]
        ax.axhline(star, color=line.get_color(), ls="--", lw=0.8)
    ax.set_xlabel("round")
    ax.set_ylabel(f"learner's radius / (tau + Delta), rolling {window}")
    ax.set_title("learning adversary's play (dashed: the solver's equilibrium)")
    return finish(fig, ax, path)


def plot_learning(tables: Tables, out: Path) -> list[Path]:
    r = tables["rounds"]
    labelled = r.assign(method=r["method"] + " vs " + r["adversary"])
    return [plot_play(tables["play"], out / "play.png"), plot_rho(r, tables["equilibrium"], out / "rho.png"),
            band_plot(labelled, "gap", out / "gap.png", logy=True, ylabel="f(theta_t) - f*",
                      title="f - f* against the learning and the equilibrium adversary")]


LEARNING = Implementation(run=run_learning, plot=plot_learning, summary=summarise)
