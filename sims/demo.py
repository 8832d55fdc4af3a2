"""`deml demo`: VISTA on the 3-D task with every round on a chain.

The DC deploys the reward token and the coordinator, funds the pool, and 1 honest node and 4 colluding
rational adversaries (an adversary majority) register with a stake. Each round the DC opens it with VISTA's
threshold, the nodes commit and reveal through ChainLedger's relayer, and the contract checks every pair,
pays or rejects, and records the aggregates the DC's midrange estimate is formed from. The run directory holds
what `deml sim` writes (config.json, rounds.parquet, nodes.parquet, the PNG plots) plus gas.parquet,
accounts.parquet and report.html; nodes.parquet and accounts.parquet are read from the chain (sims/chain_nodes.py).
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from contracts.chain import Chain
from contracts.chain_ledger import ChainLedger
from coordinator.driver import RoundLog
from protocol.ledger import RoundOutcome
from sims import chain_nodes, rundir
from sims.experiment import RunInterrupted
from sims.report import gas_plot, page
from sims.runner import show_summary
from sims.vista_experiments import (TOKEN, Quad3dConfig, Record, divergence_warnings, play, plot_rounds, setup,
                                    summarise, vista_tables)

EXPERIMENT = "demo"
SHOWN_ROWS = 12  # the live table keeps the latest rounds in view


def demo_config(rounds: int, seed: int) -> Quad3dConfig:
    """The 3-D task of the VISTA paper: Delta = 1, eta in [2, 8], kappa = 1, alpha0 = 0.1, lam = 1; N = 1 + 4."""
    return Quad3dConfig(adversaries=4, runs=1, rounds=rounds, seed=seed, baselines=[])


def run_demo(rounds: int, chain: Chain, out: Path, seed: int = 0, console: Console | None = None) -> Path:
    """VISTA rounds on `chain` into the prepared run directory `out`; returns report.html. Ctrl-C writes what
    finished (tables, plots, report) and raises RunInterrupted."""
    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    cfg = demo_config(rounds, seed)
    task = cfg.task()
    s = setup(cfg, task.dim, progress=False)
    ledger = ChainLedger(chain, nodes=s.swarm.size, seed=seed, mode="relay", min_stake=s.proto.min_stake,
                         slash_bps=s.proto.slash_bps)
    d = ledger.deployment
    rundir.write_config(out, EXPERIMENT, cfg.model_dump(), {
        "chain": chain.target, "transport": "relay", "estimator": s.proto.estimator,
        "contracts": {"token": d.token.address, "coordinator": d.coordinator.address},
        "nodes": {"honest": ledger.nodes[:s.swarm.honest], "adversaries": ledger.nodes[s.swarm.honest:]}})
    console.print(f"[bold]deml demo[/]: VISTA on f = (x^2 + 2y^2 + 3z^2)/2, 1 honest + 4 rational adversaries, "
                  f"{rounds} rounds on {chain.target} (coordinator {d.coordinator.address})")

    gas_rows, shown, record = [], [], Record([], [])
    try:
        with Live(console=console, refresh_per_second=8, transient=False) as live:
            def on_round(log: RoundLog, outcome: RoundOutcome) -> None:
                tokens = ledger.balances(ledger.nodes).tokens[0].astype(float) / TOKEN
                gas_rows.extend({"round": log.round, "phase": phase, "gas": gas} for phase, gas in outcome.gas.items())
                shown.append((log, tokens[: s.swarm.honest].sum(), tokens[s.swarm.honest:].sum(),
                              sum(outcome.gas.values())))
                live.update(_table(shown[-SHOWN_ROWS:], rounds, time.perf_counter() - t0))

            play(ledger, ledger.nodes, task, s, rounds, seed, record, on_round)
    except KeyboardInterrupt:
        done = len(record.logs)
        report, _ = _write(out, record, s, cfg, task, gas_rows, ledger, time.perf_counter() - t0, interrupted=True)
        rundir.mark(out, "interrupted", interrupted=True, done={"rounds": done, "of": rounds})
        raise RunInterrupted(out, f"demo: interrupted after {done} of {rounds} on-chain rounds; the finished work "
                                  f"is in {out}/{' (report: ' + str(report) + ')' if report else ''}") from None
    wall = time.perf_counter() - t0
    report, tables = _write(out, record, s, cfg, task, gas_rows, ledger, wall, interrupted=False)
    rundir.mark(out, "complete", wall_s=round(wall, 1))
    show_summary(summarise(tables), EXPERIMENT)
    for line in divergence_warnings(tables["summary"], cfg.alpha0, cfg.lam, task.smoothness):
        console.print(f"[yellow]warning:[/] {line}", soft_wrap=True)
    console.print(f"demo: {rounds} rounds in {wall:.0f} s ({rounds / wall:.1f} rounds/s); report: {report}")
    return report


def _write(out: Path, record: Record, s, cfg: Quad3dConfig, task, gas_rows: list, ledger: ChainLedger,
           wall: float, *, interrupted: bool) -> tuple[Path | None, dict]:
    """Tables, plots and report.html of the rounds that finished (none to write when no round did)."""
    if not record.logs:
        return None, {}
    adversary = s.swarm.is_adversary
    chain = ledger.chain
    ether_of = chain.balance if hasattr(chain, "balance") else chain.w3.eth.get_balance  # revm / web3 chains
    tables = {**vista_tables(record, s, cfg.runs, EXPERIMENT, task), "gas": pd.DataFrame(gas_rows),
              "nodes": chain_nodes.node_rounds(ledger.deployment, ledger.nodes, adversary, cfg.delta),
              "accounts": chain_nodes.accounts(ledger.deployment, ledger.nodes, adversary, ether_of)}
    rundir.write_tables(out, tables)
    plots = plot_rounds(tables, out) + [gas_plot(tables["gas"], out / "gas.png")]
    balances = ledger.balances(ledger.nodes)
    done = len(record.logs)
    rounds = tables["rounds"]
    return page(out, tables, plots, {
        "chain": ledger.chain.target, "coordinator": ledger.deployment.coordinator.address,
        "rounds": f"{done} of {cfg.rounds} (interrupted)" if interrupted else done,
        "accepted": f"{rounds['accepted'].mean():.1%}",
        "final loss": f"{rounds['loss'].iloc[-1]:.3g}",
        "honest tokens": f"{balances.tokens[0, :s.swarm.honest].sum() / TOKEN:.0f}",
        "adversary tokens": f"{balances.tokens[0, s.swarm.honest:].sum() / TOKEN:.0f}",
        "mean gas per round": f"{tables['gas'].groupby('round')['gas'].sum().mean():,.0f}",
        "on-chain rounds per second": f"{done / wall:.2f}", "wall time": f"{wall:.0f} s"},
        "deml demo: VISTA with every round on a chain",
        "f = (x<sup>2</sup> + 2y<sup>2</sup> + 3z<sup>2</sup>)/2 from (10, 10, 10); 1 honest node and 4 colluding "
        "rational adversaries; commit-reveal rounds checked pairwise by the coordinator contract, midrange estimate "
        "from the recorded aggregates."), tables


def _table(rows, rounds: int, elapsed: float) -> Group:
    t = Table(title=f"on-chain VISTA rounds ({elapsed:.0f} s)", expand=False)
    for col in ("round", "eta", "tau", "accepted", "loss", "honest", "adversaries", "gas"):
        t.add_column(col, justify="right")
    for log, honest, adversaries, gas in rows:
        ok = bool(log.accepted[0])
        t.add_row(f"{log.round}/{rounds}", f"{log.eta[0]:.2f}", f"{log.tau[0]:.2f}",
                  "[green]yes[/]" if ok else "[red]no[/]", f"{log.loss[0]:.4g}", f"{honest:.0f}",
                  f"{adversaries:.0f}", f"{gas:,}")
    return Group(t)
