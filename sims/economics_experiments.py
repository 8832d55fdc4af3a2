"""`economics`: what the protocol pays for, and to whom, across the settings a protocol designer chooses.

Three tables, each from full runs of the batched engine (the shared round driver over a MemoryLedger, the
equilibrium adversary colluding; a 1-D objective by default, where the midrange table is exact):
- share: 1 to 9 adversaries among 10 nodes (crossing one half), VISTA against constant eta: f - f* at T,
  acceptance, tokens per honest and per adversarial node, and tokens paid per unit of progress (f(x_1) - f(x_T));
- sybil: one adversary with 1, 2, 4, 8 identities beside 3 honest nodes, under the midrange and the mean
  estimators: the MSE of the accepted estimates and the tokens the adversary draws, against the solver's
  prediction (no gain under the midrange; a growing one under the mean);
- ablation: where VISTA's gain comes from: VISTA, VISTA's thresholds with the baselines' step schedule, each
  constant eta, and each constant eta with VISTA's schedule (the step held while eta is above eta_min);
- incentives: the adversarial nodes (7 of 10) participate at the equilibrium, veto (commit and never reveal: the
  round is rejected and each is slashed) or abstain (never commit: slashed, the honest quorum decides), with
  stakes of 2, 10 or 50 rewards (the minimum stake is 2 rewards, a slash half the stake): what each play earns
  or loses, how long a vetoing coalition lasts, and what it costs the model.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from coordinator import vista  # noqa: E402
from coordinator.memory_ledger import MemoryLedger  # noqa: E402
from nodes.swarm import Swarm, node_addresses  # noqa: E402
from protocol.ledger import Commit, Reveal  # noqa: E402
from sims.experiment import Implementation, Interrupted, Tables  # noqa: E402
from sims.plots import finish  # noqa: E402
from sims.vista_config import EconomicsConfig  # noqa: E402
from sims.vista_experiments import Record, VistaSetup, play, setup, vista_tables  # noqa: E402


def simulate(cfg: EconomicsConfig, s: VistaSetup) -> pd.DataFrame:
    """The rounds table of one configuration (every method x run as one batch)."""
    task = cfg.task()
    record = Record([], [])
    ledger = MemoryLedger(batch=s.control.batch, min_stake=s.proto.min_stake, slash_bps=s.proto.slash_bps)
    play(ledger, node_addresses(s.swarm.size, cfg.seed), task, s, cfg.rounds, cfg.seed, record)
    return vista_tables(record, s, cfg.runs, "economics", task)["rounds"]


def per_method(rounds: pd.DataFrame, honest: int, adversaries: int) -> pd.DataFrame:
    """Per method (means over runs): f - f* at the end, acceptance, tokens per node of each role, tokens paid per
    unit of progress, and the MSE of the accepted estimates."""
    runs = rounds.groupby(["method", "run"], sort=False).agg(
        gap_first=("gap", "first"), gap=("gap", "last"), accepted=("accepted", "mean"),
        honest=("reward_honest", "sum"), adversary=("reward_adversary", "sum"),
        mse=("estimate_error", lambda e: float(np.nanmean(np.square(e))) if e.notna().any() else np.nan))
    progress = (runs["gap_first"] - runs["gap"]).clip(lower=1e-12)
    runs = runs.assign(tokens_per_progress=(runs["honest"] + runs["adversary"]) / progress,
                       tokens_honest_node=runs["honest"] / honest,
                       tokens_adversary_node=runs["adversary"] / max(adversaries, 1))
    cols = ["gap", "accepted", "tokens_honest_node", "tokens_adversary_node", "tokens_per_progress", "mse",
            "adversary"]
    return runs.groupby("method", sort=False)[cols].mean().reset_index()


def configured(cfg: EconomicsConfig, **update) -> EconomicsConfig:
    return EconomicsConfig(**{**cfg.model_dump(), **update})


def share_table(cfg: EconomicsConfig, bar) -> pd.DataFrame:
    rows = []
    for a in cfg.shares:
        c = configured(cfg, honest=cfg.nodes - a, adversaries=a)
        rows.append(per_method(simulate(c, setup(c, 1, progress=False)), c.honest, a).assign(adversaries=a))
        bar()
    return pd.concat(rows, ignore_index=True)


def sybil_table(cfg: EconomicsConfig, bar) -> pd.DataFrame:
    rows = []
    for estimator in ("midrange", "mean"):
        for m in cfg.sybils:
            c = configured(cfg, honest=cfg.sybil_honest, adversaries=m, estimator=estimator)
            s = setup(c, 1, progress=False)
            table = per_method(simulate(c, s), c.honest, m)
            at = [int(np.abs(s.table.eta - float(name.split("=")[1])).argmin()) if "=" in name else -1
                  for name in table["method"]]
            rows.append(table.assign(estimator=estimator, identities=m,
                                     mse_star=[s.table.mse[i] if i >= 0 else np.nan for i in at]))
            bar()
    return pd.concat(rows, ignore_index=True)


def ablation_table(cfg: EconomicsConfig, bar) -> pd.DataFrame:
    """VISTA and the baselines, and each with the other's step schedule, in one batch."""
    a = cfg.ablation_adversaries
    c = configured(cfg, honest=cfg.nodes - a, adversaries=a)
    s = setup(c, 1, progress=False)
    common = dict(eta_min=c.eta_min, alpha0=c.alpha0, beta=c.beta, repeat=c.runs)
    names = ["vista", "vista, baselines' step"]
    parts = [vista.params(s.table.eta, s.table.mse, eta_max=c.eta_max, lam=c.lam, **common),
             vista.params(s.table.eta, s.table.mse, eta_max=c.eta_max, lam=c.lam, decay_all=True, **common)]
    for eta in c.baselines:
        names += [f"eta={eta:g}", f"eta={eta:g}, VISTA's step"]
        parts += [vista.params(s.table.eta, s.table.mse, **{**common, "eta_min": eta}, eta_max=eta),
                  # eta held at eta_max by lam = inf: the step decays only if eta is VISTA's eta_min
                  vista.params(s.table.eta, s.table.mse, eta_max=eta, lam=np.inf, **common)]
    s = VistaSetup(s.table, names, vista.concat(parts), s.swarm, s.proto)
    out = per_method(simulate(c, s), c.honest, a).assign(adversaries=a)
    bar()
    return out


@dataclass(frozen=True)
class Withholding:
    """The swarm's reporters, but its adversarial nodes veto (commit, never reveal) or abstain (never commit)."""

    swarm: Swarm
    play: Literal["veto", "abstain"]

    @property
    def size(self) -> int:
        return self.swarm.size

    @property
    def is_adversary(self):
        return self.swarm.is_adversary

    def round(self, round_id: int, addresses: list[str], *args) -> tuple[list[Commit], list[Reveal]]:
        commits, reveals = self.swarm.round(round_id, addresses, *args)
        adversaries = {a for a, bad in zip(addresses, self.is_adversary) if bad}
        if self.play == "abstain":
            commits = [c for c in commits if c.sender not in adversaries]
        return commits, [m for m in reveals if m.sender not in adversaries]


def incentives_table(cfg: EconomicsConfig, bar) -> pd.DataFrame:
    a = cfg.ablation_adversaries
    c = configured(cfg, honest=cfg.nodes - a, adversaries=a, baselines=[])
    base = setup(c, 1, progress=False)
    rows = []
    for multiple in (2, 10, 50):
        proto = replace(base.proto, stake=multiple * base.proto.reward)
        for play in ("participate", "veto", "abstain"):
            swarm = base.swarm if play == "participate" else Withholding(base.swarm, play)
            rounds = simulate(c, replace(base, swarm=swarm, proto=proto))
            per_run = rounds.groupby("run").agg(
                gap=("gap", "last"), accepted=("accepted", "mean"), paid=("reward_adversary", "sum"),
                slashed=("slashed_adversary", "sum"), members=("members", "last"),
                out_after=("members", lambda m: int(np.argmax(m.to_numpy() < m.iloc[0])) or np.nan))
            rows.append({"stake": multiple, "play": play, "gap": per_run["gap"].mean(),
                         "accepted": per_run["accepted"].mean(),
                         "net_per_adversary": (per_run["paid"] - per_run["slashed"]).mean() / a,
                         "members_at_end": per_run["members"].mean(), "out_after": per_run["out_after"].mean()})
            bar()
    return pd.DataFrame(rows)


def run_economics(cfg: EconomicsConfig) -> Tables:
    steps = len(cfg.shares) + 2 * len(cfg.sybils) + 1 + 9
    done: Tables = {}
    with Progress(console=Console(stderr=True), transient=True) as progress:
        job = progress.add_task("economics", total=steps)
        bar = lambda: progress.advance(job)  # noqa: E731
        try:
            for name, build in (("share", share_table), ("sybil", sybil_table), ("ablation", ablation_table),
                                ("incentives", incentives_table)):
                done[name] = build(cfg, bar)
        except KeyboardInterrupt:
            raise Interrupted(done, {"tables": list(done)}, f"the {', '.join(done) or 'no'} table(s)") from None
    return done


def summarise(tables: Tables) -> pd.DataFrame:
    """VISTA's row of each adversary share, beside the best constant eta's."""
    share = tables["share"]
    out = []
    for a, g in share.groupby("adversaries"):
        v = g[g["method"] == "vista"].iloc[0]
        best = g[g["method"] != "vista"].sort_values("gap").iloc[0]
        out.append({"adversaries": a, "vista f - f*": v["gap"], "best constant": best["method"],
                    "its f - f*": best["gap"], "vista tokens/progress": v["tokens_per_progress"],
                    "adv. tokens/node": v["tokens_adversary_node"]})
    return pd.DataFrame(out).set_index("adversaries")


def _lines(ax, frame: pd.DataFrame, x: str, y: str, by: str, logy: bool = False) -> None:
    for key, g in frame.groupby(by, sort=False):
        g = g.sort_values(x)
        ax.plot(g[x], g[y], "o-", label=str(key), lw=1.8 if str(key) == "vista" else 1.0)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y.replace("_", " "))


def plot_economics(tables: Tables, out: Path) -> list[Path]:
    paths = []
    if "share" in tables:
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
        for ax, y, logy in zip(axes, ["gap", "tokens_adversary_node", "tokens_per_progress"], [True, False, True]):
            _lines(ax, tables["share"], "adversaries", y, "method", logy)
        axes[0].set_title("f - f* at the last round")
        axes[1].set_title("tokens per adversarial node")
        axes[2].set_title("tokens paid per unit of progress")
        paths.append(finish(fig, axes[0], out / "share.png", dpi=100))
    if "sybil" in tables:
        syb = tables["sybil"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, est in zip(axes, ("midrange", "mean")):
            g = syb[syb["estimator"] == est]
            _lines(ax, g, "identities", "mse", "method", logy=True)
            for method, h in g[g["method"] != "vista"].groupby("method"):
                ax.plot(h["identities"], h["mse_star"], "k:", lw=0.8)
            ax.set_title(f"{est}: MSE of accepted estimates (dotted: the solver's)")
            ax.set_xscale("log", base=2)
        paths.append(finish(fig, axes[0], out / "sybil.png", dpi=100))
    if "ablation" in tables:
        ab = tables["ablation"]
        fig, ax = plt.subplots(figsize=(8, 4.2))
        ax.barh(ab["method"], ab["gap"])
        ax.set_xscale("log")
        ax.set_xlabel("f - f* at the last round")
        ax.set_title(f"ablation, {int(ab['adversaries'].iloc[0])} adversaries: thresholds against step schedules")
        fig.tight_layout()
        fig.savefig(out / "ablation.png", dpi=100)
        plt.close(fig)
        paths.append(out / "ablation.png")
    return paths


ECONOMICS = Implementation(run=run_economics, plot=plot_economics, summary=summarise)
