"""Tokens, stake and gas per node and per role, and for chain-backed runs the check that the per-node sums of
the node-round table equal what the contracts hold.

Units: tokens (1 token = 10^18 base units of the reward token); gas in gas units, its cost in ETH at the given
gas price (gwei); net = tokens earned - stake slashed, in tokens (gas is paid in ETH, not tokens, so it is shown
beside the net, not subtracted from it).
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from sims.analysis.load import Run

TOKEN = 10**18
GWEI = 1e-9  # ETH per gwei


def keys(frame: pd.DataFrame) -> list[str]:
    """The grouping that separates independent runs: a sweep's value first when there is one."""
    return (["sweep"] if "sweep" in frame.columns else []) + ["method", "run"]


def per_node(run: Run, gas_price_gwei: float) -> pd.DataFrame:
    """One row per (sweep,) method, run and node: rounds taken part in, reveals, paid rounds, tokens earned and
    slashed, net, gas and its cost; for chain runs also the ether the node spent on its own transactions."""
    n = run.nodes
    g = n.groupby(keys(n) + ["node", "address", "role"], observed=True, sort=False)
    out = g.agg(rounds=("round", "size"), committed=("committed", "sum"), revealed=("revealed", "sum"),
                paid_rounds=("paid", lambda p: int((p > 0).sum())), earned_tokens=("paid", "sum"),
                slashed_tokens=("slashed", "sum"), gas_units=("gas", "sum")).reset_index()
    out["earned_tokens"] = out["earned_tokens"].astype(np.float64)
    out["slashed_tokens"] = out["slashed_tokens"].astype(np.float64)
    out["net_tokens"] = out["earned_tokens"] - out["slashed_tokens"]
    out["gas_cost_eth"] = out["gas_units"] * gas_price_gwei * GWEI
    if run.accounts is not None:
        spent = dict(zip(run.accounts["address"], run.accounts["ether_spent"].map(int)))
        out["own_tx_eth"] = out["address"].astype(str).map(spent).astype(float) / 1e18
    out.insert(0, "source", run.name)
    return out


def per_role(nodes: pd.DataFrame) -> pd.DataFrame:
    """Per (source, sweep,) method and role: how many nodes, and per node per run the mean tokens earned,
    slashed, net and gas cost; with the role's total per run beside, so a role of many nodes is not mistaken
    for a richer one."""
    by = ["source"] + (["sweep"] if "sweep" in nodes.columns else []) + ["method", "role"]
    g = nodes.groupby(by, observed=True, sort=False)
    out = g.agg(nodes=("node", "nunique"), runs=("run", "nunique"), earned_per_node=("earned_tokens", "mean"),
                slashed_per_node=("slashed_tokens", "mean"), net_per_node=("net_tokens", "mean"),
                gas_cost_eth_per_node=("gas_cost_eth", "mean")).reset_index()
    out["net_role_total"] = out["net_per_node"] * out["nodes"]
    return out


def _base_units(tokens: pd.Series) -> int:
    """Exact sum in base units of token amounts stored as floats (each an exact binary fraction)."""
    total = sum((Decimal(float(v)) for v in tokens), Decimal(0)) * TOKEN
    return int(total) if total == total.to_integral_value() else -1


def balance_check(run: Run) -> pd.DataFrame:
    """Per node of a chain-backed run: the token balance and stake the contracts hold at the end, against what
    the events imply (minted - locked + withdrawn + paid; locked - withdrawn - slashed), all in base units."""
    n = run.nodes
    rows = []
    for acc in run.accounts.itertuples():
        mine = n[n["address"].astype(str) == acc.address]
        paid, slashed = _base_units(mine["paid"]), _base_units(mine["slashed"])
        want_tokens = int(acc.minted) - int(acc.locked) + int(acc.withdrawn) + paid
        want_stake = int(acc.locked) - int(acc.withdrawn) - slashed
        rows.append({"node": acc.node, "address": acc.address, "role": acc.role,
                     "paid_sum": str(paid), "slashed_sum": str(slashed),
                     "token_balance": acc.token_balance, "tokens_from_events": str(want_tokens),
                     "stake": acc.stake, "stake_from_events": str(want_stake),
                     "equal": want_tokens == int(acc.token_balance) and want_stake == int(acc.stake)})
    return pd.DataFrame(rows)


def dc_gas(run: Run) -> pd.DataFrame | None:
    """The DC's gas per phase of a chain-backed run (it sends every round transaction in relay mode)."""
    if run.gas is None or run.gas.empty:
        return None
    return run.gas.groupby("phase", sort=False)["gas"].agg(["sum", "mean", "max"]).reset_index()
