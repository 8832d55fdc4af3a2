"""The VISTA paper's synthetic experiments: `quad3d` (1 honest + 1 adversary, d = 3) and `scalar1d`
(N = 5: 1 honest + 4 colluding adversaries, midrange estimator), VISTA against constant-eta baselines, on any
named objective (`--set objective=...`) or one given through `sims.api`.

All runs of all methods form one batch of B = runs x methods independent ledgers, advanced together by the
shared round driver over a MemoryLedger: commit-reveal, the integer consistency check and the reward
accounting are the protocol's own, vectorised across the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress

from coordinator import rules, vista
from coordinator.driver import ProtocolConfig, RoundLog, provision, run
from coordinator.memory_ledger import MemoryLedger
from economics import GameSpec, solve
from economics.equilibrium import EquilibriumTable
from nodes.adversary import RationalAdversary
from nodes.honest import HonestReport
from nodes.swarm import Swarm, node_addresses
from protocol.ledger import Ledger, RoundOutcome
from sims import objectives
from sims.node_table import NodeRounds, RevealRecorder, revealed_reports
from sims.experiment import Implementation, Interrupted, Tables
from sims.objectives import Objective
from sims.plots import band_plot
from sims.vista_config import ObjectiveConfig, Quad3dConfig, Scalar1dConfig, VistaConfig  # noqa: F401 (re-exported)

TOKEN = 10**18  # base units per reward token (18 decimals, as the ERC-20)


def game(cfg: VistaConfig, dim: int) -> GameSpec:
    return GameSpec(dim=dim, delta=cfg.delta, honest=cfg.honest, adversaries=max(cfg.adversaries, 1),
                    utility=cfg.utility, kappa=cfg.kappa, estimator=cfg.game_estimator(dim))


def methods(cfg: VistaConfig, table: EquilibriumTable) -> tuple[list[str], vista.VistaParams]:
    """Method names and the stacked controller parameters: each method's runs are contiguous in the batch."""
    common = dict(alpha0=cfg.alpha0, beta=cfg.beta, repeat=cfg.runs)
    names = ["vista"]
    parts = [vista.params(table.eta, table.mse, eta_min=cfg.eta_min, eta_max=cfg.eta_max, lam=cfg.lam, **common)]
    if cfg.oracle:
        names.append("vista-oracle")
        parts.append(vista.params(table.eta, table.mse, eta_min=cfg.eta_min, eta_max=cfg.eta_max, lam=cfg.lam,
                                  oracle=True, **common))
    for e in cfg.baselines:
        names.append(f"eta={e:g}")
        parts.append(vista.params(table.eta, table.mse, eta_min=e, eta_max=e, **common))
    return names, vista.concat(parts)


@dataclass(frozen=True)
class VistaSetup:
    """Everything a VISTA run needs besides its ledger: the same for simulations, the demo and the chain tests."""

    table: EquilibriumTable
    names: list[str]
    control: vista.VistaParams
    swarm: Swarm
    proto: ProtocolConfig


def setup(cfg: VistaConfig, dim: int, *, progress: bool = True) -> VistaSetup:
    """Equilibrium table, stacked methods, honest + colluding rational adversaries, protocol parameters."""
    table = solve(game(cfg, dim), cfg.eta_grid(), progress=progress)
    names, control = methods(cfg, table)
    swarm = Swarm(cfg.honest, cfg.adversaries, HonestReport(cfg.delta),
                  RationalAdversary(table) if cfg.adversaries else None, collude=True, seed=cfg.seed)
    reward = int(cfg.reward * TOKEN)
    # the smallest slash (half the minimum stake) equals the reward: withholding never pays (docs/protocol.md)
    proto = ProtocolConfig(delta=cfg.delta, reward=reward, stake=10 * reward, min_stake=2 * reward,
                           scale_bits=cfg.scale_bits, estimator=table.spec.estimator, quorum=2)
    return VistaSetup(table, names, control, swarm, proto)


@dataclass
class Record:
    """What a caller keeps of each finished round (the driver's on_round hook): the log, the norm of the
    estimate the DC formed, which is what divergence is judged from, and, when `nodes` is given, the node-round
    rows (a chain-backed run builds those from the chain's events instead)."""

    logs: list[RoundLog]
    estimate_norms: list[np.ndarray]
    nodes: NodeRounds | None = None

    def add(self, log: RoundLog, outcome: RoundOutcome, proto: ProtocolConfig) -> None:
        g_hat = rules.estimate(outcome.total, outcome.count, outcome.lo, outcome.hi, proto.estimator,
                               proto.scale_bits)
        self.logs.append(log)
        self.estimate_norms.append(np.where(log.accepted, np.linalg.norm(g_hat, axis=1), np.nan))


def play(ledger: Ledger, addresses: list[str], task: Objective, s: VistaSetup, rounds: int, seed: int,
         record: Record, on_round: Callable[[RoundLog, RoundOutcome], None] | None = None) -> None:
    """Provision the ledger and drive `rounds` rounds, adding each finished one to `record` as it finishes
    (so that after a KeyboardInterrupt the caller still holds every finished round)."""
    reporters = RevealRecorder(s.swarm)
    honest = ~s.swarm.is_adversary

    def hook(log: RoundLog, outcome: RoundOutcome) -> None:
        record.add(log, outcome, s.proto)
        if record.nodes is not None:
            reports = revealed_reports(reporters.last, addresses, ledger.batch, task.dim, s.proto.scale_bits)
            record.nodes.add(log, outcome, reports, honest)
        if on_round is not None:
            on_round(log, outcome)

    provision(ledger, addresses, s.proto, rounds)
    run(ledger, task, reporters, s.control, s.proto, members=addresses, rounds=rounds,
        rng=np.random.default_rng(seed), on_round=hook)


def rounds_frame(record: Record, s: VistaSetup, runs: int, experiment: str, task: Objective,
                 adversary: np.ndarray | None = None) -> pd.DataFrame:
    """One row per method x run x round (long format), built column-wise from the stacked logs. `adversary` [N]
    marks the adversarial nodes (default: the setup's swarm, honest first)."""
    logs = record.logs
    t, b = len(logs), len(logs[0].loss)
    col = lambda name: np.stack([getattr(g, name) for g in logs]).reshape(-1)  # noqa: E731  [T*B], round-major
    paid = np.stack([g.paid for g in logs]).astype(np.float64) / TOKEN  # [T, B, N]
    slashed = np.stack([g.slashed for g in logs]).astype(np.float64) / TOKEN
    adv = s.swarm.is_adversary if adversary is None else np.asarray(adversary, dtype=bool)
    return pd.DataFrame({
        "experiment": experiment,
        "method": np.tile(np.repeat(s.names, runs), t),
        "run": np.tile(np.arange(b) % runs, t),
        "round": np.repeat([g.round for g in logs], b),
        "loss": col("loss"), "gap": objectives.gap(task, col("loss")),
        "grad_norm": col("grad_norm"), "eta": col("eta"), "tau": col("tau"),
        "accepted": col("accepted"), "lr": col("lr"), "saturated": col("saturated"),
        "estimate_error": col("estimate_error"), "estimate_norm": np.stack(record.estimate_norms).reshape(-1),
        "reward_honest": paid[:, :, ~adv].sum(axis=2).reshape(-1),
        "reward_adversary": paid[:, :, adv].sum(axis=2).reshape(-1),
        "slashed_honest": slashed[:, :, ~adv].sum(axis=2).reshape(-1),
        "slashed_adversary": slashed[:, :, adv].sum(axis=2).reshape(-1),
        "members": col("members"),
    })


def runs_frame(rounds: pd.DataFrame, diverging: np.ndarray) -> pd.DataFrame:
    """One row per method x run, in batch order: final loss and gap, acceptance, tokens earned, diverging."""
    per_run = rounds.groupby(["method", "run"], sort=False)  # first appearance: the batch order of round 1
    out = per_run.agg(final_loss=("loss", "last"), final_gap=("gap", "last"), acceptance=("accepted", "mean"),
                      tokens_honest=("reward_honest", "sum"), tokens_adversary=("reward_adversary", "sum"),
                      rounds=("round", "max"))
    return out.reset_index().assign(diverging=diverging)


def vista_tables(record: Record, s: VistaSetup, runs: int, experiment: str, task: Objective,
                 adversary: np.ndarray | None = None, addresses: list[str] | None = None) -> Tables:
    """rounds.parquet and summary.parquet, and nodes.parquet when the record kept node rows; divergence is judged
    as the DC would, from what it saw. `adversary` [N]: as rounds_frame's."""
    stack = lambda name: np.stack([getattr(g, name) for g in record.logs])  # noqa: E731  [T, B]
    flags = vista.diverging(np.stack(record.estimate_norms), stack("accepted"), stack("tau"))
    rounds = rounds_frame(record, s, runs, experiment, task, adversary)
    tables = {"rounds": rounds, "summary": runs_frame(rounds, flags)}
    if record.nodes is not None and record.nodes.rounds:
        tables["nodes"] = record.nodes.frame(s.names, runs, addresses, s.swarm.is_adversary)
    return tables


def run_vista(cfg: VistaConfig, task: Objective, experiment: str) -> Tables:
    """Every method x run of `cfg` on `task` as one batch; Ctrl-C raises Interrupted with the finished rounds."""
    record = Record([], [], NodeRounds(TOKEN))
    try:
        s = setup(cfg, task.dim)
        addresses = node_addresses(s.swarm.size, cfg.seed)
        ledger = MemoryLedger(batch=s.control.batch, min_stake=s.proto.min_stake, slash_bps=s.proto.slash_bps)
        with Progress(console=Console(stderr=True), transient=True) as bar:
            job = bar.add_task(f"{experiment}: {len(s.names)} methods x {cfg.runs} runs", total=cfg.rounds)
            play(ledger, addresses, task, s, cfg.rounds, cfg.seed, record, lambda log, out: bar.advance(job))
    except KeyboardInterrupt:
        tables = vista_tables(record, s, cfg.runs, experiment, task, addresses=addresses) if record.logs else {}
        raise Interrupted(tables, {"rounds": len(record.logs), "of": cfg.rounds},
                          f"{len(record.logs)} of {cfg.rounds} rounds") from None
    return vista_tables(record, s, cfg.runs, experiment, task, addresses=addresses)


def summarise(tables: Tables) -> pd.DataFrame:
    """Per method, means over runs: final loss and gap f - f*, acceptance rate, tokens earned by the honest
    and by the adversarial nodes; and how many runs diverge."""
    g = tables["summary"].groupby("method", sort=False)
    return pd.DataFrame({"loss": g["final_loss"].mean(), "f - f*": g["final_gap"].mean(),
                         "accepted": g["acceptance"].mean(), "tokens honest": g["tokens_honest"].mean(),
                         "tokens adv.": g["tokens_adversary"].mean(), "diverging": g["diverging"].sum().astype(int)})


def divergence_warnings(summary: pd.DataFrame, alpha0: float, lam: float, smoothness: float | None) -> list[str]:
    """One line per diverging method, naming its runs and the fix."""
    lines = []
    for method, g in summary[summary["diverging"]].groupby("method", sort=False):
        bound = (f"alpha0 <= 1/(L(1 + lam)) = {1 / (smoothness * (1 + lam)):.3g} here (L = {smoothness:.3g})"
                 if smoothness else "alpha0 <= 1/(L(1 + lam)), L the largest curvature on the path")
        runs = ", ".join(str(r) for r in g["run"])
        lines.append(f"{method} diverges in run{'s' if len(g) > 1 else ''} {runs}: its accepted estimates grow "
                     f"geometrically at alpha0 = {alpha0:g}; lower it: {bound} (--set alpha0=...)")
    return lines


def plot_rounds(tables: Tables, out: Path) -> list[Path]:
    r = tables["rounds"]
    r = r.assign(cum_honest=r.groupby(["method", "run"])["reward_honest"].cumsum(),
                 cum_adversary=r.groupby(["method", "run"])["reward_adversary"].cumsum())
    window = max(1, int(r["round"].max()) // 60)
    return [
        band_plot(r, "gap", out / "gap.png", logy=True, ylabel="f(theta_t) - f*",
                  title="optimality gap f - f*: mean +- 1 std (geometric)"),
        band_plot(r, "grad_norm", out / "grad_norm.png", logy=True, ylabel="||grad f(theta_t)||"),
        band_plot(r, "eta", out / "eta.png", logx=True, title="announced eta (log rounds: VISTA moves early)"),
        band_plot(r.assign(accepted=r["accepted"].astype(float)), "accepted", out / "acceptance.png",
                  smooth=window, ylabel=f"acceptance rate (rolling {window} rounds)"),
        band_plot(r, "cum_honest", out / "rewards_honest.png", ylabel="cumulative tokens, honest nodes"),
        band_plot(r, "cum_adversary", out / "rewards_adversary.png", ylabel="cumulative tokens, adversarial nodes"),
    ]


def plot_sweep(tables: Tables, key: str, out: Path) -> list[Path]:
    r = tables["rounds"]
    v = r[r["method"] == "vista"].assign(**{key: lambda d: d["sweep"].astype(str)})
    paths = [band_plot(v, "gap", out / f"sweep_{key}_gap.png", by=key, logy=True,
                       title=f"VISTA f - f* across {key}"),
             band_plot(v, "eta", out / f"sweep_{key}_eta.png", by=key, logx=True,
                       title=f"VISTA eta across {key}")]
    # the constant baselines do not depend on the swept key: one copy of them for reference
    first = r[(r["sweep"] == r["sweep"].iloc[0]) & (r["method"] != "vista")]
    paths.append(band_plot(pd.concat([first, v.assign(method="vista " + key + "=" + v[key])]), "gap",
                           out / f"sweep_{key}_vs_baselines.png", logy=True, ylabel="f(theta_t) - f*"))
    return paths


def implementation(experiment: str, task: Callable[[VistaConfig], Objective]) -> Implementation:
    """The VISTA engine on the objective `task(cfg)`, as a named experiment."""
    def check(cfg: VistaConfig) -> None:  # the named objectives' configs did this already; sims.api tasks need it
        cfg.game_estimator(task(cfg).dim)

    def warnings(tables: Tables, cfg: VistaConfig) -> list[str]:
        return divergence_warnings(tables["summary"], cfg.alpha0, cfg.lam, getattr(task(cfg), "smoothness", None))

    def about(cfg: VistaConfig) -> dict:
        t = task(cfg)
        return {"objective": {"task": repr(t), "dim": t.dim, "f_star": t.f_star,
                              "smoothness": getattr(t, "smoothness", None)}}

    return Implementation(run=lambda cfg: run_vista(cfg, task(cfg), experiment), plot=plot_rounds,
                          summary=summarise, sweep_plot=plot_sweep, check=check, warnings=warnings, about=about)


QUAD3D = implementation("quad3d", ObjectiveConfig.task)
SCALAR1D = implementation("scalar1d", ObjectiveConfig.task)
