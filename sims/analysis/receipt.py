"""Receipts: why a node was paid, not paid or slashed in a round, from the node-round table alone (for a
chain-backed run that table was read from the chain's events)."""
from __future__ import annotations

import pandas as pd

from sims.analysis.load import Run
from sims.config import ConfigError


def _sweep_value(run: Run, sweep: str | None):
    """The swept value a receipt reads (the first when none is given); None for a plain run."""
    if run.sweep is None:
        if sweep is not None:
            raise ConfigError(f"--sweep {sweep}: {run.name} is not a sweep; leave it out")
        return None
    values = run.sweep["values"]
    if sweep is None:
        return values[0]
    for v in values:
        if str(v) == sweep or (isinstance(v, (int, float)) and _number(sweep) == v):
            return v
    raise ConfigError(f"--sweep {sweep}: {run.sweep['key']} took {', '.join(map(str, values))} in {run.name}")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _pick(run: Run, node: str, round_: int, method: str | None, run_index: int,
          sweep: str | None) -> tuple[pd.DataFrame, int]:
    """The round's rows (one per node) of the chosen sweep value, method and run, and the node's index;
    ConfigError for anything not in the table, naming what is."""
    n = run.nodes
    value = _sweep_value(run, sweep)
    if value is not None:
        n = n[n["sweep"] == value]
    methods = list(dict.fromkeys(n["method"].astype(str)))
    method = method or methods[0]
    if method not in methods:
        raise ConfigError(f"--method {method}: not in {run.name} (it has {', '.join(methods)})")
    addresses = list(dict.fromkeys(n["address"].astype(str)))
    match = [i for i, a in enumerate(addresses) if a.lower() == node.lower()] or (
        [int(node)] if node.isdigit() and int(node) < len(addresses) else [])
    if not match:
        raise ConfigError(f"--node {node}: no such node in {run.name}; give one of its addresses "
                          f"({', '.join(addresses[:4])}{', ...' if len(addresses) > 4 else ''}) or an index "
                          f"0..{len(addresses) - 1}")
    rows = n[(n["method"] == method) & (n["run"] == run_index) & (n["round"] == round_)]
    if rows.empty:
        last = int(n["round"].max())
        raise ConfigError(f"--round {round_} / --run {run_index}: not in {run.name} (rounds 1..{last}, runs "
                          f"0..{int(n['run'].max())})")
    return rows.sort_values("node"), match[0]


def receipt(run: Run, node: str, round_: int, method: str | None = None, run_index: int = 0,
            sweep: str | None = None) -> list[str]:
    """The lines of the receipt."""
    rows, i = _pick(run, node, round_, method, run_index, sweep)
    me = rows.iloc[i]
    tau = float(me["tau"])
    who = lambda j: f"node {j} ({rows.iloc[j]['address']}, {rows.iloc[j]['role']})"  # noqa: E731
    swept = "" if run.sweep is None else f", {run.sweep['key']}={me['sweep']}"
    lines = [f"{run.name}{swept}, method {me['method']}, run {run_index}, round {round_}: {who(i)}",
             f"tau = {tau:.4g} (eta = {float(me['eta']):.4g}); round {'accepted' if me['accepted'] else 'rejected'}",
             f"committed: {'yes' if me['committed'] else 'no'}; revealed: {'yes' if me['revealed'] else 'no'}"]
    if me["revealed"] and me["farthest_node"] >= 0:
        d = float(me["dist_farthest"])
        lines.append(f"its report lay {d:.4g} from the farthest other revealed report, {who(int(me['farthest_node']))}: "
                     + (f"within tau by {tau - d:.4g}" if d <= tau else f"beyond tau by {d - tau:.4g}"))
    if me["slashed"] > 0:
        lines.append(f"SLASHED {float(me['slashed']):g} tokens of stake: a member that does not reveal "
                     f"({'it withheld the report it committed to' if me['committed'] else 'it never committed'}) "
                     f"loses part of its stake")
    elif me["paid"] > 0:
        lines.append(f"PAID {float(me['paid']):g} tokens: it revealed and every pair of revealed reports lay "
                     f"within tau")
    else:
        lines.append("NOT PAID: " + _why_not(rows, i, tau, who))
    return lines


def _why_not(rows: pd.DataFrame, i: int, tau: float, who) -> str:
    me = rows.iloc[i]
    if not me["revealed"]:
        return "it did not reveal"
    if me["accepted"]:
        return "the round was accepted but paid nothing to this node (a sketched round awaiting confirmation?)"
    withheld = rows[rows["committed"] & ~rows["revealed"]]
    if not withheld.empty:
        return (f"the round was rejected: {', '.join(who(int(j)) for j in withheld['node'])} committed and "
                f"withheld its report")
    if rows["revealed"].sum() < 2:
        return "the round was rejected: fewer reports revealed than the quorum"
    worst = rows.loc[rows["dist_farthest"].idxmax()]
    d = float(worst["dist_farthest"])
    if d <= tau:
        return "the round was rejected though every revealed pair lay within tau (quorum or expiry)"
    return (f"the round was rejected: the pair {who(int(worst['node']))} and {who(int(worst['farthest_node']))} "
            f"lay {d:.4g} apart, beyond tau = {tau:.4g} by {d - tau:.4g}")
