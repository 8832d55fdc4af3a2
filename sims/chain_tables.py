"""A swarm's run directory, built from the chain alone: the coordinator's events (RoundOpened, Committed,
Revealed, Finalized, Paid, Slashed) and the receipts of the transactions in each round's blocks, replayed through
the DC's own rules (`coordinator.service.replay`) for the model's loss. Any process can rebuild it, and what it
says is what the chain says, not what some process remembers.

- `rounds.parquet`, `summary.parquet`: as `deml sim` writes them (one method, one run);
- `nodes.parquet`: one row per node per round, the schema of every run (sims/node_table.py, what `deml analyse`
  reads), with `gas` what the node's own transactions in the round's blocks used (failed ones included) and
  `attack` the role it played;
- `gas.parquet`: one row per round and phase (`open`, `commit`, `reveal`, `finalize`; in sketched rounds `seed`,
  `confirm` and `proof`; `failed` for refused transactions), summed over the round's transactions;
- the plots of `deml sim`, `gas.png`, and `report.html`.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from contracts.chain_ledger import ChainLedger
from contracts.client import Deployment, RoundRecord, rounds
from coordinator.driver import State, start
from coordinator.service import Reports, replay
from protocol.deployment import DeploymentRecord
from sims import rundir
from sims.report import gas_plot, page
from sims.chain_nodes import node_rounds
from sims.vista_experiments import Record, plot_rounds, summarise, vista_tables
from sims.workloads import DcSide

PHASES = {"RoundOpened": "open", "Committed": "commit", "Revealed": "reveal", "Finalized": "finalize",
          "Expired": "finalize", "SeedRevealed": "seed", "Confirmed": "confirm", "Disproved": "proof"}
HONEST = "honest"


def settled_records(d: Deployment, rec: DeploymentRecord) -> list[RoundRecord]:
    return [r for r in rounds(d, rec.deploy_block) if r.settled]


def chain_tables(d: Deployment, rec: DeploymentRecord, side: DcSide, members: Sequence[str], roles: Sequence[str],
                 experiment: str, reports: Reports | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the run directory, from the chain (empty dict before any round settled); a sketched run's
    estimates from the full reports its DC was delivered (`reports`: its store). With a workload that evaluates
    its model, `evals` too: test accuracy and loss of the model every `eval_every` rounds and after the last."""
    records = settled_records(d, rec)
    if not records:
        return {}
    evals: list[dict] = []

    def evaluate(state: State) -> None:
        if side.evaluate is not None and (state.settled % side.eval_every == 0 or state.settled == len(records)):
            acc, loss = side.evaluate(state.theta[0])
            evals.append({"method": side.method, "run": 0, "round": state.settled, "test_acc": acc,
                          "test_loss": loss})

    if side.evaluate is not None:
        evaluate(start(side.task, side.control, 1))
    done = replay(records, ChainLedger(d.chain, deployment=d), side.task, side.control, side.proto, members,
                  reports=reports, on_state=evaluate)
    record = Record([], [])
    for log, outcome in done.settled:
        record.add(log, outcome, side.proto)
    setup = replace(side.setup, names=[side.method], control=side.control, proto=side.proto)
    adversary = np.array([r != HONEST for r in roles])
    tables = vista_tables(record, setup, 1, experiment, side.task, adversary)
    nodes, gas = node_rows(d, rec, records[:len(done.settled)], members, roles, side)
    return {**tables, "nodes": nodes, "gas": gas, **({"evals": pd.DataFrame(evals)} if evals else {})}


def node_rows(d: Deployment, rec: DeploymentRecord, records: list[RoundRecord], members: Sequence[str],
              roles: Sequence[str], side: DcSide) -> tuple[pd.DataFrame, pd.DataFrame]:
    """nodes.parquet (the schema every run writes, sims/node_table.py, from the coordinator's events, plus the gas
    each node's own transactions in the round's blocks used, and its `attack`) and gas.parquet of the settled
    rounds `records`."""
    chain = d.chain
    last = chain.block_number
    spans = [(r.block, records[i + 1].block - 1 if i + 1 < len(records) else last) for i, r in enumerate(records)]
    sent = chain.sent(records[0].block, spans[-1][1], senders=set(members) | {rec.owner})
    phase_of = {tx: PHASES[e.name] for r in records for e, (_, tx) in zip(r.events, r.sources) if e.name in PHASES}
    index = {a: i for i, a in enumerate(members)}
    node_gas = np.zeros((len(records), len(members)), dtype=np.int64)
    gas_rows = []
    k = 0
    for t, (r, (lo, hi)) in enumerate(zip(records, spans)):
        per_phase: dict[str, int] = {}
        while k < len(sent) and sent[k].block <= hi:
            tx = sent[k]
            k += 1
            if tx.block < lo:
                continue
            phase = phase_of.get(tx.tx_hash, "failed" if not tx.ok else "other")
            per_phase[phase] = per_phase.get(phase, 0) + tx.gas_used
            if tx.sender in index:
                node_gas[t, index[tx.sender]] += tx.gas_used
        gas_rows += [{"round": r.round_id + 1, "phase": p, "gas": g} for p, g in per_phase.items()]
    adversary = np.array([role != HONEST for role in roles])
    nodes = node_rounds(d, list(members), adversary, side.proto.delta, side.method)  # the same settled rounds
    nodes = nodes[nodes["round"] <= len(records)].reset_index(drop=True)  # not one still awaiting confirmation
    nodes = nodes.assign(gas=node_gas.reshape(-1).astype(np.int32),
                         attack=pd.Categorical(np.tile(list(roles), len(records))))
    return nodes, pd.DataFrame(gas_rows)


def role_totals(nodes: pd.DataFrame) -> pd.DataFrame:
    """Per role (honest, or the attack played): nodes, tokens paid and stake slashed in all, and paid per node."""
    g = nodes.groupby("attack", sort=False, observed=True)
    out = pd.DataFrame({"nodes": g["node"].nunique(), "paid": g["paid"].sum(), "slashed": g["slashed"].sum()})
    out["paid per node"] = out["paid"] / out["nodes"]
    return out


def write_run(out: Path, d: Deployment, rec: DeploymentRecord, side: DcSide, members: Sequence[str],
              roles: Sequence[str], experiment: str, *, title: str = "", extra: dict | None = None,
              reports: Reports | None = None, say: Callable[[str], None] = print) -> dict[str, pd.DataFrame]:
    """Write the tables, plots and report.html of the rounds settled so far into `out`; the tables."""
    tables = chain_tables(d, rec, side, members, roles, experiment, reports)
    if not tables:
        say("no round settled: no tables to write")
        return tables
    rundir.write_tables(out, tables)
    plots = plot_rounds(tables, out) + [gas_plot(tables["gas"], out / "gas.png")]
    r, per_role = tables["rounds"], role_totals(tables["nodes"])
    summary = {"chain": f"{d.chain.target} (chain id {rec.chain_id})", "coordinator": rec.coordinator,
               "rounds settled": len(r), "accepted": f"{r['accepted'].mean():.1%}",
               "final loss": f"{r['loss'].iloc[-1]:.4g}", "method": side.method,
               **{f"tokens paid to {role} ({int(row['nodes'])} nodes)": f"{row['paid']:.0f} "
                  f"({row['paid per node']:.1f} per node; {row['slashed']:.1f} slashed)"
                  for role, row in per_role.iterrows()},
               "mean gas per round": f"{tables['gas'].groupby('round')['gas'].sum().mean():,.0f}", **(extra or {})}
    page(out, tables, plots, summary, title or f"deml {experiment}",
         "every actor its own process with its own key; rounds opened, committed, revealed and settled on chain; "
         "every table rebuilt from the chain's events and receipts")
    return tables


def show(tables: dict[str, pd.DataFrame], title: str) -> None:
    from sims.runner import show_summary

    if tables:
        show_summary(summarise(tables), title)
        show_summary(role_totals(tables["nodes"]), f"{title} tokens per role")
