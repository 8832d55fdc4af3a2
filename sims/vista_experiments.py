"""The VISTA paper's synthetic experiments: `quad3d` (1 honest + 1 adversary, d = 3) and `scalar1d`
(N = 5: 1 honest + 4 colluding adversaries, midrange estimator), VISTA against constant-eta baselines.

All runs of all methods form one batch of B = runs x methods independent ledgers, advanced together by the
shared round driver over a MemoryLedger: commit-reveal, the integer consistency check and the reward
accounting are the protocol's own, vectorised across the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from rich.console import Console
from rich.progress import Progress

from coordinator import vista
from coordinator.driver import ProtocolConfig, RoundLog, Task, provision, run
from coordinator.memory_ledger import MemoryLedger
from economics import GameSpec, solve
from economics.equilibrium import EquilibriumTable
from nodes.adversary import RationalAdversary
from nodes.honest import HonestReport
from nodes.swarm import Swarm, node_addresses
from sims.config import ExperimentConfig
from sims.objectives import LogBowl1D, Quadratic
from sims.plots import band_plot
from sims.experiment import Experiment, Tables

TOKEN = 10**18  # base units per reward token (18 decimals, as the ERC-20)


class VistaConfig(ExperimentConfig):
    honest: int = Field(1, ge=1)
    adversaries: int = Field(1, ge=0, description="colluding adversarial nodes; may be the majority")
    delta: float = Field(1.0, gt=0, description="honest noise radius Delta")
    kappa: float = Field(1.0, gt=0, description="adversary utility log MSE + kappa log P_A")
    utility: Literal["log", "product"] = "log"
    eta_min: float = Field(2.0, gt=0)
    eta_max: float = Field(8.0, gt=0)
    eta_step: float = Field(0.05, gt=0, description="spacing of the equilibrium grid VISTA chooses from")
    alpha0: float = Field(0.1, gt=0)
    lam: float = Field(1.0, gt=0, description="VISTA's signal-to-noise tolerance")
    beta: float = Field(0.9, ge=0, lt=1)
    baselines: list[float] = Field([2.0, 3.0, 4.0, 5.0, 6.0, 8.0], description="constant-eta baselines")
    oracle: bool = Field(False, description="also run VISTA-oracle (true ||grad f||^2)")
    scale_bits: int = Field(16, ge=4, le=24)
    reward: float = Field(1.0, gt=0, description="tokens paid to each revealer of an accepted round")

    @model_validator(mode="after")
    def _range(self):
        if self.eta_min > self.eta_max:
            raise ValueError(f"eta_min {self.eta_min} > eta_max {self.eta_max}; swap them")
        for b in self.baselines:
            if not self.eta_min - 1e-9 <= b <= self.eta_max + 1e-9:
                raise ValueError(f"baselines: {b} outside [eta_min, eta_max]; widen the range or drop it")
        return self

    def eta_grid(self) -> np.ndarray:
        n = int(round((self.eta_max - self.eta_min) / self.eta_step))
        return np.round(np.linspace(self.eta_min, self.eta_max, n + 1), 10)


class Quad3dConfig(VistaConfig):
    pass


class Scalar1dConfig(VistaConfig):
    adversaries: int = Field(4, ge=0, description="colluding adversarial nodes; may be the majority")
    # |f'| <= 1.2 here, below MSE*(eta_min) = 1.76: at lam = 1 VISTA saturates in round 1 (the paper's small-lam
    # failure mode); lam = 10 keeps it adaptive while the gradient is informative (see the lam sweep)
    lam: float = Field(10.0, gt=0, description="VISTA's signal-to-noise tolerance")


def game(cfg: VistaConfig, dim: int) -> GameSpec:
    n = cfg.honest + cfg.adversaries
    return GameSpec(dim=dim, delta=cfg.delta, honest=cfg.honest, adversaries=max(cfg.adversaries, 1),
                    utility=cfg.utility, kappa=cfg.kappa, estimator="midrange" if n > 2 else "mean")


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


def rounds_frame(logs: list[RoundLog], swarm: Swarm, names: list[str], runs: int, experiment: str) -> pd.DataFrame:
    """One row per method x run x round (long format), built column-wise from the stacked logs."""
    t, b = len(logs), len(logs[0].loss)
    col = lambda name: np.stack([getattr(g, name) for g in logs]).reshape(-1)  # noqa: E731  [T*B], round-major
    paid = np.stack([g.paid for g in logs]).astype(np.float64) / TOKEN  # [T, B, N]
    adv = swarm.is_adversary
    return pd.DataFrame({
        "experiment": experiment,
        "method": np.tile(np.repeat(names, runs), t),
        "run": np.tile(np.arange(b) % runs, t),
        "round": np.repeat([g.round for g in logs], b),
        "loss": col("loss"), "grad_norm": col("grad_norm"), "eta": col("eta"), "tau": col("tau"),
        "accepted": col("accepted"), "lr": col("lr"), "saturated": col("saturated"),
        "estimate_error": col("estimate_error"),
        "reward_honest": paid[:, :, ~adv].sum(axis=2).reshape(-1),
        "reward_adversary": paid[:, :, adv].sum(axis=2).reshape(-1),
    })


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
                  RationalAdversary(table) if cfg.adversaries else None, collude=True)
    reward = int(cfg.reward * TOKEN)
    # the smallest slash (half the minimum stake) equals the reward: withholding never pays (docs/protocol.md)
    proto = ProtocolConfig(delta=cfg.delta, reward=reward, stake=10 * reward, min_stake=2 * reward,
                           scale_bits=cfg.scale_bits, estimator=table.spec.estimator, quorum=2)
    return VistaSetup(table, names, control, swarm, proto)


def run_vista(cfg: VistaConfig, task: Task, experiment: str) -> Tables:
    s = setup(cfg, task.dim)
    names, control, swarm, proto = s.names, s.control, s.swarm, s.proto
    ledger = MemoryLedger(batch=control.batch, min_stake=proto.min_stake, slash_bps=proto.slash_bps)
    addresses = node_addresses(swarm.size, cfg.seed)
    provision(ledger, addresses, proto, cfg.rounds)
    with Progress(console=Console(stderr=True), transient=True) as bar:
        job = bar.add_task(f"{experiment}: {len(names)} methods x {cfg.runs} runs", total=cfg.rounds)
        logs = run(ledger, task, swarm, control, proto, members=addresses, rounds=cfg.rounds,
                   rng=np.random.default_rng(cfg.seed),
                   on_round=lambda log, out: bar.advance(job))
    return {"rounds": rounds_frame(logs, swarm, names, cfg.runs, experiment)}


def plot_rounds(tables: Tables, out: Path) -> list[Path]:
    r = tables["rounds"]
    r = r.assign(cum_honest=r.groupby(["method", "run"])["reward_honest"].cumsum(),
                 cum_adversary=r.groupby(["method", "run"])["reward_adversary"].cumsum())
    window = max(1, int(r["round"].max()) // 60)
    return [
        band_plot(r, "loss", out / "loss.png", logy=True, title="f(theta_t): mean +- 1 std (geometric)"),
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
    paths = [band_plot(v, "loss", out / f"sweep_{key}_loss.png", by=key, logy=True,
                       title=f"VISTA loss across {key}"),
             band_plot(v, "eta", out / f"sweep_{key}_eta.png", by=key, logx=True,
                       title=f"VISTA eta across {key}")]
    # the constant baselines do not depend on the swept key: one copy of them for reference
    first = r[(r["sweep"] == r["sweep"].iloc[0]) & (r["method"] != "vista")]
    paths.append(band_plot(pd.concat([first, v.assign(method="vista " + key + "=" + v[key])]), "loss",
                           out / f"sweep_{key}_vs_baselines.png", logy=True))
    return paths


EXPERIMENTS = (
    Experiment(
        "quad3d", "VISTA vs constant eta on f = (x^2 + 2y^2 + 3z^2)/2, 1 honest + 1 rational adversary",
        Quad3dConfig, lambda cfg: run_vista(cfg, Quadratic(), "quad3d"), plot_rounds, plot_sweep),
    Experiment(
        "scalar1d", "VISTA vs constant eta on f = log(1+x^2) + x^2/20, 1 honest + 4 colluding adversaries (midrange)",
        Scalar1dConfig, lambda cfg: run_vista(cfg, LogBowl1D(), "scalar1d"), plot_rounds, plot_sweep),
)
